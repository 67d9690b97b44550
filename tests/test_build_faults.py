"""Builds under faults: a crash, kill or signal never loses or half-replaces the previous dataset, and leaves
no temp folder or worker process behind; a folder that is not ours is refused."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from datasets import load_dataset

import mpii_pose_dataset.export as export
import pose_dataset.export as core
import pose_dataset.staging as staging
from mpii_pose_dataset.cli import main
from tests._mpii_release import entry, person, picture, pose, simple_release, write

REPO = Path(__file__).resolve().parents[1]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file (marker, card, reports, shards) by relative path -> sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _rows(folder: Path) -> dict[str, int]:
    ds = load_dataset(str(folder))
    return {split: ds[split].num_rows for split in ds}


def _leftovers(output: Path) -> list[Path]:
    return sorted(output.parent.glob(f".{output.name}.*"))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return simple_release(tmp_path_factory.mktemp("release"), n=12)


@pytest.fixture
def previous(release, tmp_path):
    """A built dataset folder (paper config, 384 px) and its snapshot."""
    out = tmp_path / "ds"
    export.build(out, data_dir=release, num_proc=1, cache_dir=tmp_path / "cache")
    return out, _snapshot(out), _rows(out)


@pytest.mark.parametrize("step", ["_move_shards", "write_card", "swap_in"])
def test_a_crash_at_any_step_leaves_the_previous_dataset(previous, release, tmp_path, monkeypatch, step):
    out, before, rows = previous

    def crash(*args, **kwargs):
        raise RuntimeError(f"simulated crash in {step}")

    monkeypatch.setattr(core, step, crash) if hasattr(core, step) else monkeypatch.setattr(staging, step, crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export.build(out, data_dir=release, num_proc=1, cache_dir=tmp_path / "cache", image_size=256)
    assert _snapshot(out) == before  # card, reports and shards: all still the 384 px build
    assert _rows(out) == rows
    assert _leftovers(out) == []


def test_sigkill_just_before_the_swap_leaves_the_previous_dataset(previous, release, tmp_path):
    out, before, rows = previous
    script = textwrap.dedent(
        f"""
        import os, signal
        import pose_dataset.staging as staging
        from mpii_pose_dataset.export import build
        staging.swap_in = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        build({str(out)!r}, data_dir={str(release)!r}, num_proc=1, cache_dir={str(tmp_path)!r}, image_size=256)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(out) == before and _rows(out) == rows
    # The killed build's staging folder is cleared by the next build, which then succeeds.
    assert [p.name.split("-")[0] for p in _leftovers(out)] == [".ds.staging"]
    export.build(out, data_dir=release, num_proc=1, cache_dir=tmp_path / "cache", image_size=256)
    assert _leftovers(out) == [] and '"image_size": 256' in (out / "reports" / "paper.json").read_text()


def test_death_between_the_two_fallback_renames_is_undone(previous, release, tmp_path, monkeypatch):
    out, before, rows = previous
    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)  # a platform without renameat2
    real_rename = os.rename

    def die_after_first(src, dst):
        real_rename(src, dst)
        if ".previous-" in str(dst):
            raise KeyboardInterrupt  # stands for a kill between the two renames

    monkeypatch.setattr(staging.os, "rename", die_after_first)
    with pytest.raises(KeyboardInterrupt):
        export.build(out, data_dir=release, num_proc=1, cache_dir=tmp_path / "cache", image_size=256)
    monkeypatch.setattr(staging.os, "rename", real_rename)
    assert not out.exists()
    staging.recover(out)
    assert _snapshot(out) == before and _rows(out) == rows and _leftovers(out) == []


def test_rebuilding_one_config_keeps_the_others_and_replaces_atomically(previous, release, tmp_path):
    out, before, _ = previous
    export.build(out, data_dir=release, num_proc=1, cache_dir=tmp_path / "cache", configs=["person_crop"])
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if k.startswith("data/paper/")} == {
        k: v for k, v in before.items() if k.startswith("data/paper/")
    }
    assert "reports/person_crop.json" in after and "config_name: person_crop" in (out / "README.md").read_text()
    assert _leftovers(out) == []


def test_a_foreign_folder_is_refused_unless_overwrite(release, tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "data" / "paper").mkdir(parents=True)
    (out / "README.md").write_text("my own notes\n")
    (out / "data" / "paper" / "keep.parquet").write_bytes(b"mine")
    before = _snapshot(out)
    args = ["build", "--mpii-dir", str(release), "--output", str(out), "--num-proc", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {out}: not empty") and "--overwrite" in err
    assert _snapshot(out) == before and _leftovers(out) == []
    assert main([*args, "--overwrite", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert staging.is_ours(out) and not (out / "data" / "paper" / "keep.parquet").exists()


def test_a_file_as_output_and_an_empty_folder(release, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(staging.NotOurFolderError, match="not a folder"):
        export.build(tmp_path / "file", data_dir=release, num_proc=1)
    (tmp_path / "empty").mkdir()
    export.build(tmp_path / "empty", data_dir=release, num_proc=1, cache_dir=tmp_path / "cache")
    assert staging.is_ours(tmp_path / "empty")


@pytest.fixture(scope="module")
def big_release(tmp_path_factory):
    """Enough 640x480 images that a two-worker build is still decoding when the signal comes."""
    root = tmp_path_factory.mktemp("big")
    annolist, images = [], {}
    for i in range(300):
        name = f"{i:09d}.jpg"
        annolist.append(entry(name, [person(pose(640, 480, seed=i))]))
        images[name] = picture(640, 480, seed=i)  # distinct bytes: a byte-identical copy is a duplicate listing
    return write(root, annolist, images)


def _children_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _signal_during_the_pool(
    command: list[str], signum: int, made: list[Path], env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Start ``command`` (a two-worker build), send it ``signum`` while its pool runs; its exit code and stderr once
    every process of the build has ended (the test fails if any outlives it).

    The signal goes only to a build whose pool workers are alive just before it is sent: on a loaded machine a pool
    seen 0.3 s earlier may have ended already, and a signal sent after the build's last pool tests nothing (the build
    then finishes and exits 0). Such a run is started again, up to three times, with what it ``made`` removed."""
    for _ in range(3):
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            parent, sent, pids = psutil.Process(proc.pid), False, []
            deadline = time.monotonic() + 180
            while not sent and time.monotonic() < deadline and proc.poll() is None:
                workers = [c.pid for c in parent.children(recursive=True)]
                if len(workers) >= 3:  # the pool: 2 workers and its manager
                    time.sleep(0.3)  # let the workers start on their work
                    pids = [c.pid for c in parent.children(recursive=True)]
                    if len(_children_alive(workers)) == len(workers):
                        proc.send_signal(signum)
                        sent = True
                time.sleep(0.05)
            _, err = proc.communicate(timeout=60)
            deadline = time.monotonic() + 10
            while _children_alive(pids) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _children_alive(pids) == []
        finally:
            if proc.poll() is None:  # a failed check must not leave the build running
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
                proc.kill()
        if sent:
            return proc.returncode, err
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    raise AssertionError(f"three builds ended before their pool could be signalled: {command}")


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip() and "Generating" not in line]  # not tqdm bars


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_build_with_no_orphans_and_no_temp_folder(big_release, tmp_path, signum):
    out = tmp_path / "ds"
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "mpii_pose_dataset", "build", "--mpii-dir", str(big_release), "--output", str(out)]
    cmd += ["--num-proc", "2", "--cache-dir", str(cache)]
    returncode, err = _signal_during_the_pool(cmd, signum, [out, cache])
    assert returncode == 128 + signum, err
    assert "Traceback" not in err
    assert _error_lines(err) == [f"error: build interrupted by {signal.Signals(signum).name}; {out} is unchanged"], err
    assert not out.exists() and _leftovers(out) == []


BUILD_IN_A_RUN = """
import sys
from blip_pose.training.errors import run_main
from blip_pose.training.signals import StopOnSignal
from mpii_pose_dataset.export import build

StopOnSignal().install(watch_launcher=False)  # as training/run.py does before it builds its dataset
run_main(lambda: build(sys.argv[1], data_dir=sys.argv[2], num_proc=2, cache_dir=sys.argv[3]))
"""


def test_sigterm_during_a_build_inside_a_run_is_the_runs_one_line_stop(big_release, tmp_path):
    # Issue 21: a multiprocess TimeoutError traceback, and in 2 runs of 3 an orphaned pool worker and a staging folder.
    out = tmp_path / "ds"
    command = [sys.executable, "-c", BUILD_IN_A_RUN, str(out), str(big_release), str(tmp_path / "cache")]
    returncode, err = _signal_during_the_pool(command, signal.SIGTERM, [out, tmp_path / "cache"])
    assert returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert _error_lines(err) == ["error: training stopped (SIGTERM) before training started"], err
    assert not out.exists() and _leftovers(out) == []
