"""benchmarks/device_suite.sh: its argument handling, the commands it would run on a GPU, and the whole suite on CPU
(``--smoke``: the tiny preset through the same steps), so the script a GPU session runs has already worked."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from blip_pose.training.arguments import parse_arguments

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "device_suite.sh"


def suite(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the environment's accelerate
    environment = {**os.environ, "PYTHON": sys.executable, "PATH": path}
    return subprocess.run(
        ["bash", str(SUITE), *args], cwd=ROOT, capture_output=True, text=True, env={**environment, **env}, timeout=600
    )


def test_help_lists_every_option():
    out = suite("--help")
    assert out.returncode == 0
    for option in ("--out", "--frames", "--train-steps", "--eval-images", "--dry-run", "--smoke"):
        assert option in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch", "4"), "unknown argument '--batch'"),
        (("--frames", "0"), "--frames must be a positive integer, got '0'"),
        (("--train-steps", "ten"), "--train-steps must be a positive integer, got 'ten'"),
        (("--out",), "--out needs a value"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(args, message):
    out = suite(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("device_suite.sh: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_without_a_gpu_it_refuses_and_says_what_to_do(tmp_path):
    no_cuda = tmp_path / "python"  # a python whose torch sees no GPU, whatever this machine has
    no_cuda.write_text("#!/bin/sh\nexit 1\n")
    no_cuda.chmod(0o755)
    out = suite("--out", str(tmp_path / "out"), PYTHON=str(no_cuda))
    assert out.returncode == 2
    assert "no CUDA GPU here" in out.stderr and "--smoke" in out.stderr
    assert not (tmp_path / "out").exists()


def test_dry_run_commands_are_valid_training_runs_with_the_readme_settings(tmp_path):
    out = suite("--dry-run", "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    commands = [line[2:] for line in out.stdout.splitlines() if line.startswith("+ ")]
    assert len(commands) == 5 and "mpii_pose_dataset build --synthetic 5000" in commands[0]
    runs = [shlex.split(c.split("training/run.py ", 1)[1]) for c in commands[1:]]
    parsed = []
    for argv in runs:
        argv[argv.index("--use_cpu") + 1] = "true"  # bf16 on a GPU; parsed here without one
        argv[argv.index("--bf16") + 1] = "false"
        parsed.append(parse_arguments(argv))
    assert all(m.model_name_or_path == "base" and m.attn_implementation == "sdpa" for m, _, _ in parsed)
    assert all(d.pixel_cache for _, d, _ in parsed)
    train = [t for _, _, t in parsed if t.do_train]
    assert [t.per_device_train_batch_size for t in train] == [4, 32]
    assert all(t.optim == "adamw_torch_fused" and not t.skip_memory_metrics for t in train)
    evals = [(d.caption_column, t) for _, d, t in parsed if not t.do_train]
    assert [c for c, _ in evals] == ["text", "loc_text"]
    assert all(t.per_device_eval_batch_size == 128 and t.constrained_decoding for _, t in evals)
    assert not (tmp_path / "out").exists()


def test_smoke_runs_every_step_and_prints_the_table(tmp_path):
    out = suite("--smoke", "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr[-2000:]
    table = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[0] for row in table] == [
        "| training, `text`, batch 4",
        "| training, `text`, batch 8",
        "| evaluation, constrained, `text`, batch 8",
        "| evaluation, constrained, `loc_text`, batch 8",
    ]
    for row, stage in zip(table, ("train", "train", "eval", "eval")):
        run = row.rstrip(" |").split(" | ")[-1]
        results = json.loads((tmp_path / "out" / run / "all_results.json").read_text())
        speed = results[f"{stage}_samples_per_second"]
        assert f"{speed:.1f} " in row  # the figure printed is the Trainer's own
        assert results.get("eval_parse_rate", 1.0) == 1.0
