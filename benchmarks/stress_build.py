"""Consecutive parallel builds beside a CPU hog: does any build hang at the end of its ``num_proc`` pool?

    python benchmarks/stress_build.py --n 200
    python benchmarks/stress_build.py --n 40 --code /path/to/another/checkout   # e.g. the unfixed code

Each build is ``python -m mpii_pose_dataset build --sample --num-proc 2`` (the bundled sample: a few seconds) in a
fresh output and cache folder, while ``--hog`` processes spin on the CPU (a loaded machine is what made a freshly
forked pool worker miss its SIGTERM; see :mod:`blip_pose.forking`). A watchdog only detects a hang: a build still
running after ``--watchdog`` seconds is reported with the state of each of its processes (wait channel, caught
signals) and killed, and the run goes on. Prints builds run, hangs, and min/median/max build time.

Measured on the shared 2-core machine (issue 21): with the fork guard 200 builds, 0 hangs (2 hogs, load 4.9-13.8,
median 11.6 s); the code before it 1 hang in 80 builds (2 hogs, load 2.1-4.2), whose workers caught SIGTERM.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def spin() -> None:
    while True:
        pass


def describe(process: psutil.Process) -> str:
    """One line per process of a hung build: pid, parent, wait channel, whether it catches SIGTERM (bit 15)."""
    lines = []
    for p in [process, *process.children(recursive=True)]:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
            caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt")), 16)
            wchan = Path(f"/proc/{p.pid}/wchan").read_text()
            lines.append(f"    pid {p.pid} parent {p.ppid()} wchan {wchan} catches SIGTERM {bool(caught >> 14 & 1)}")
        except (OSError, psutil.Error, StopIteration):
            continue
    return "\n".join(lines)


def build_once(workdir: Path, env: dict[str, str], watchdog: float) -> tuple[float, str | None]:
    """Seconds the build took and None, or the watchdog's seconds and a description of the hung build."""
    out, cache = workdir / "out", workdir / "cache"
    command = [sys.executable, "-m", "mpii_pose_dataset", "build", "--sample", "--num-proc", "2"]
    start = time.monotonic()
    proc = subprocess.Popen(
        [*command, "--output", str(out), "--cache-dir", str(cache)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=watchdog)
    except subprocess.TimeoutExpired:
        parent = psutil.Process(proc.pid)
        state = describe(parent)
        for child in parent.children(recursive=True):
            child.kill()
        proc.kill()
        proc.communicate()
        return time.monotonic() - start, state
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"build failed (exit {proc.returncode}): {err.strip().splitlines()[-1:]}")
    return time.monotonic() - start, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="consecutive builds (default: %(default)s)")
    parser.add_argument("--hog", type=int, default=os.cpu_count() or 1, help="spinning processes (default: cores)")
    parser.add_argument("--watchdog", type=float, default=180.0, help="seconds before a build counts as hung")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose code builds (default: this one)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve()), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.update(OMP_NUM_THREADS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    hogs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.hog)]
    for hog in hogs:
        hog.start()
    times: list[float] = []
    hangs = 0
    loads: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="stress-build-") as tmp:
            for i in range(1, args.n + 1):
                seconds, hung = build_once(Path(tmp), env, args.watchdog)
                loads.append(os.getloadavg()[0])
                if hung is None:
                    times.append(seconds)
                else:
                    hangs += 1
                    print(f"build {i}: HUNG (killed after {seconds:.0f} s)\n{hung}", flush=True)
                if i % 10 == 0 or i == args.n:
                    print(f"{i} builds, {hangs} hung, last {seconds:.1f} s, load {loads[-1]:.1f}", flush=True)
    finally:
        for hog in hogs:
            hog.terminate()
    print(
        f"code {args.code}: {len(times) + hangs} builds, {hangs} hangs; build time min {min(times, default=0):.1f} s, "
        f"median {statistics.median(times or [0]):.1f} s, max {max(times, default=0):.1f} s; "
        f"{args.hog} hog processes, load average {min(loads):.1f}-{max(loads):.1f}"
    )


if __name__ == "__main__":
    main()
