"""One set-up and end-of-run for a run and a sweep trial: a trial folder is a run folder, the sweep trains on
synthetic data, an analysis reads the dataset the run recorded, the training-subset evaluation survives persistent
workers, bad arguments stop before any work, an overwrite keeps analyses, and the console is a few labelled lines."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from training_fixtures import ROOT, load_script, run

from blip_pose.cli import main as cli_main
from blip_pose.run_record import DATASET_SOURCE_KEY, RESOLVED_DATASET_KEY
from blip_pose.training.arguments import (
    ConfigError,
    DataArguments,
    ModelArguments,
    PoseTrainingArguments,
    parse_arguments,
    parse_dataclasses,
)
from blip_pose.training.errors import USER_ERRORS
from blip_pose.training.output_dir import check_output_dir
from blip_pose.training.results import mean_training_loss
from blip_pose.training.signals import Interrupted, StopOnSignal
from blip_pose.training.sweep import SweepArguments, design_settings
from blip_pose.training.sweep_results import TRIAL_FILE

CONFIGS = ROOT / "training" / "configs"
sweep = load_script("sweep")
SYNTHETIC = ("--dataset_name", "synthetic", "--synthetic_size", "60")


def _sweep_argv(out: Path, *flags: str) -> list[str]:
    """One trial (batch 8, adamw) of the demo sweep on 60 synthetic frames: 2 epochs of one step each."""
    one_trial = ("--batch_sizes", "8", "--optimizers", "adamw", "--num_train_epochs", "2")
    small = ("--max_train_samples", "8", "--max_eval_samples", "2")
    return [str(CONFIGS / "sweep_demo.yaml"), *SYNTHETIC, "--output_dir", str(out), *one_trial, *small, *flags]


def test_a_sweep_trial_on_synthetic_data_is_a_whole_run(tmp_path):
    """The sweep resolves synthetic data like a run, and its trial ends like a run (session.end_run)."""
    out = tmp_path / "sweep"
    results = sweep.main(_sweep_argv(out))
    assert [r.status for r in results] == ["finished"]
    trial = out / results[0].setting
    choice = json.loads((trial / "checkpoint_choice.json").read_text())
    assert choice["step"] == 2 and "evaluations" in choice["description"]  # how the final numbers were chosen
    history = json.loads((trial / "trainer_state.json").read_text())["log_history"]
    whole_run = mean_training_loss(history)
    last_loss_step = max(row["step"] for row in history if "loss" in row)
    assert last_loss_step == 2  # LogBeforeSaves: the history's losses cover every step
    for name in ("train_results.json", "all_results.json"):
        assert json.loads((trial / name).read_text())["train_loss"] == pytest.approx(whole_run)
    assert "synthetic" in (trial / "README.md").read_text()
    for name in ("plots/training_loss.png", "plots/validation_metrics.png", "predictions/final.jsonl"):
        assert (trial / name).is_file(), name
    data = json.loads((trial / "run_config.json").read_text())["data"]
    recorded = data[RESOLVED_DATASET_KEY]
    assert Path(recorded["path"]).parent == out and Path(recorded["path"]).name.startswith("synthetic-")
    # The data section is the run's: the dataset's recorded source too (a trial once dropped it, so a synthetic
    # folder given by path was not called synthetic on its card).
    assert data[DATASET_SOURCE_KEY]["kind"] == "synthetic" and data[DATASET_SOURCE_KEY]["frames"] == 60
    assert "Data: synthetic stick figures (60 procedural frames" in (out / "sweep_summary.md").read_text()


def test_a_signal_stops_a_sweep_trial_unrecorded(tmp_path):
    """The sweep handles signals like a run: a stopped trial ends the sweep with Interrupted, no sweep_trial.json."""
    out = tmp_path / "stopped"
    stop = StopOnSignal()
    stop.signum = signal.SIGTERM  # as if sent: training stops at the end of the first step
    with pytest.raises(Interrupted, match="training stopped"):
        sweep.main(_sweep_argv(out), stop=stop)
    assert not list(out.glob(f"*/{TRIAL_FILE}"))


def test_analyze_reads_the_dataset_the_run_recorded(tmp_path, monkeypatch):
    """A run on synthetic data records the folder it built; analyze loads that, from any working directory."""
    out = tmp_path / "run"
    run.main([str(CONFIGS / "tiny_test.yaml"), *SYNTHETIC, "--output_dir", str(out), "--max_steps", "1"])
    recorded = json.loads((out / "run_config.json").read_text())["data"][RESOLVED_DATASET_KEY]
    assert Path(recorded["path"]).is_absolute() and Path(recorded["path"]).parent == out
    monkeypatch.chdir(tmp_path)
    assert cli_main(["analyze", "panels", str(out), "--images", "2", "--out", str(tmp_path / "panels")]) == 0
    assert list((tmp_path / "panels").glob("*.png"))


def test_train_subset_evaluation_with_persistent_workers(tmp_path, monkeypatch):
    """simple.yaml's persistent workers: the Trainer caches one evaluation loader, which the training subset must
    not reuse (it scored 27 validation images as the subset, or the subset as the validation split)."""
    monkeypatch.setattr("blip_pose.training.trainer.size_dataloader_workers", lambda args: None)  # keep 1 worker
    out = tmp_path / "persistent"
    run.main(
        [str(CONFIGS / "tiny_test.yaml"), "--dataset_name", "sample", "--output_dir", str(out)]
        + ["--dataloader_num_workers", "1", "--dataloader_persistent_workers", "true", "--max_steps", "2"]
        + ["--eval_strategy", "steps", "--eval_steps", "1", "--max_eval_samples", "2", "--train_eval_samples", "3"]
    )
    for step in (1, 2):
        validation = (out / "predictions" / f"step-{step:06d}.jsonl").read_text().splitlines()
        train = (out / "predictions" / f"train-step-{step:06d}.jsonl").read_text().splitlines()
        assert (len(validation), len(train)) == (2, 3)
        assert {json.loads(line)["image_name"] for line in validation}.isdisjoint(
            json.loads(line)["image_name"] for line in train
        )
    assert len((out / "predictions" / "final.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--caption_column", "foo"), "caption column 'foo' has no joint coordinates to score"),
        (("--caption_column", "image_name"), "caption column 'image_name' has no joint coordinates to score"),
        (("--train_eval_samples", "0"), "--train_eval_samples must be a positive number of rows, got 0"),
        (("--model_name_or_path", "preset:huge"), "unknown preset 'huge'"),
    ],
)
def test_bad_arguments_stop_before_any_data_is_generated(tmp_path, flags, message):
    out = tmp_path / "early"
    argv = [str(CONFIGS / "tiny_test.yaml"), *SYNTHETIC, "--synthetic_size", "100000", "--output_dir", str(out)]
    with pytest.raises(USER_ERRORS, match=message):
        run.main([*argv, *flags])
    assert not out.exists() or not list(out.iterdir())  # nothing generated, built or saved


def test_overwrite_keeps_the_analyses_and_says_so(tmp_path, caplog):
    out = tmp_path / "demo"
    for name in ("run_config.json", "model.safetensors", "analysis/panels/panels.png", "preset-tiny/config.json"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("{}")
    args = parse_arguments([str(CONFIGS / "demo.yaml"), "--output_dir", str(out)])[2]
    with caplog.at_level(logging.WARNING):
        check_output_dir(args)
    assert sorted(p.name for p in out.iterdir()) == ["analysis", "preset-tiny"]
    assert (out / "analysis" / "panels" / "panels.png").is_file()
    assert f"kept {out / 'analysis'}" in caplog.text


def test_console_shows_labelled_headline_lines(tmp_path, capsys):
    """No raw log dicts and no evaluation bars; the step-0 evaluation says it is before training."""
    out = tmp_path / "console"
    run.main(
        [str(CONFIGS / "tiny_test.yaml"), "--dataset_name", "sample", "--output_dir", str(out), "--max_steps", "2"]
        + ["--eval_strategy", "steps", "--eval_steps", "2", "--eval_on_start", "true", "--max_eval_samples", "2"]
    )
    captured = capsys.readouterr()
    console = captured.out + captured.err
    assert "step 0 (before training), validation: accuracy@25 " in captured.out
    assert "step 2, validation: accuracy@25 " in captured.out
    assert "{'loss'" not in console and "{'eval_loss'" not in console and "'train_runtime'" not in console
    assert "training loss (mean over the whole run)" in captured.out


def test_sweep_bad_search_space_is_one_line_exit_2(tmp_path):
    out = tmp_path / "bad"
    argv = [str(CONFIGS / "sweep_demo.yaml"), "--output_dir", str(out), "--learning_rates", "-0.001"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "training" / "sweep.py"), *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: --learning_rates: -0.001 is not a learning rate above 0"]
    assert not out.exists()


SWEEP_CLASSES = (SweepArguments, ModelArguments, DataArguments, PoseTrainingArguments)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--batch_sizes", "0", "8"), "--batch_sizes: 0 is not a whole number of images above 0"),
        (("--batch_sizes", "-4"), "--batch_sizes: -4 is not a whole number of images above 0"),
        (("--baseline_batch_size", "0"), "--baseline_batch_size: 0 is not a whole number of images above 0"),
        (("--learning_rates", "-0.001"), "--learning_rates: -0.001 is not a learning rate above 0"),
        (("--learning_rates", "nan"), "--learning_rates: nan is not a learning rate above 0"),
        (("--learning_rates", "fast"), "invalid float value: 'fast'"),
        (("--baseline_learning_rate", "inf"), "--baseline_learning_rate: inf is not a learning rate above 0"),
        (("--max_trials", "0"), "--max_trials must be at least 1 (leave it out to run every trial), got 0"),
        (("--max_trials", "-1"), "--max_trials must be at least 1 (leave it out to run every trial), got -1"),
    ],
)
def test_sweep_search_space_flags_are_checked(flags, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_dataclasses(SWEEP_CLASSES, [str(CONFIGS / "sweep_demo.yaml"), *flags])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("learning_rates: [fast]", "--learning_rates: 'fast' is not a learning rate above 0"),
        ("learning_rates: [.nan]", "--learning_rates: nan is not a learning rate above 0"),
        ("batch_sizes: [4.5]", "--batch_sizes: 4.5 is not a whole number of images above 0"),
        ("batch_sizes: [true]", "--batch_sizes: True is not a whole number of images above 0"),
    ],
)
def test_sweep_search_space_config_values_are_checked(tmp_path, entry, message):
    config = tmp_path / "sweep.yaml"
    config.write_text((CONFIGS / "sweep_demo.yaml").read_text() + entry + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_dataclasses(SWEEP_CLASSES, [str(config)])


def test_sweep_repeated_values_train_once(tmp_path, caplog):
    """A value given twice (5e-5 written two ways, a batch size repeated) is one trial, with a note."""
    config = tmp_path / "sweep.yaml"
    config.write_text((CONFIGS / "sweep_demo.yaml").read_text() + "learning_rates: [5e-5, 5.0e-5]\n")
    with caplog.at_level(logging.WARNING):
        args = parse_dataclasses(SWEEP_CLASSES, [str(config), "--batch_sizes", "4", "8", "4"])[0]
    assert args.batch_sizes == [4, 8] and args.learning_rates == [5e-5]
    assert [s.name for s in design_settings(args)] == [
        "bs4-lr5e-05-sgd",
        "bs4-lr5e-05-adamw",
        "bs8-lr5e-05-sgd",
        "bs8-lr5e-05-adamw",
    ]
    assert "--batch_sizes: repeated values dropped, 4, 8 kept" in caplog.text
    assert "--learning_rates: repeated values dropped, 5e-05 kept" in caplog.text
