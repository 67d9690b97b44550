"""How build, training and evaluation time grow with the data: synthetic frames at several sizes, the user's commands.

    python benchmarks/bench_scaling.py --sizes 1000 10000 30000

For each size N, in a fresh temporary folder: ``python -m mpii_pose_dataset build --synthetic N`` (drawing, JPEGs,
the ``.mat``, the parquet build; config ``video_split``), then ``training/run.py`` on the built folder: the shipped
``pretrained:tiny-pose``, one epoch at batch 32 with the pixel cache, then one evaluation of the whole validation
split with the method's ``text`` captions (constrained decoding, batch 64). Reported per size: wall seconds of the
build, of the pixel cache + training epoch (the Trainer's ``train_runtime``) and of the evaluation
(``eval_runtime``), each also per 1,000 frames, so linear growth reads as a flat column. One process, the threads
``accelerate launch`` would give it (``--threads``). Speed figures belong here, never in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from blip_pose.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str], threads: int) -> float:
    """Wall seconds of one command; its output is shown only when it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])} ... exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - start


def one_size(n: int, threads: int, tmp: Path) -> dict[str, float]:
    """Seconds of the build, the training epoch and the evaluation of ``n`` synthetic frames."""
    data, out = tmp / f"data-{n}", tmp / f"run-{n}"
    build = _run(
        [sys.executable, "-m", "mpii_pose_dataset", "build", "--synthetic", str(n), "--output", str(data)], threads
    )
    # fmt: off
    _run([
        sys.executable, "training/run.py", "training/configs/tiny_test.yaml",
        "--model_name_or_path", "pretrained:tiny-pose", "--dataset_name", str(data),
        "--dataset_config_name", "video_split", "--output_dir", str(out), "--max_steps", "-1",
        "--num_train_epochs", "1", "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "64",
        "--learning_rate", "5e-5", "--pixel_cache", "true", "--logging_steps", "50", "--num_overlays", "0",
    ], threads)
    # fmt: on
    results = json.loads(RunFolder(out).results.read_text())
    return {
        "frames": n,
        # One epoch: the Trainer's samples/s x runtime is the split's row count.
        "train rows": results["train_samples_per_second"] * results["train_runtime"],
        "eval rows": results["eval_samples_per_second"] * results["eval_runtime"],
        "build s": build,
        "train s": results["train_runtime"],
        "eval s": results["eval_runtime"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 30000])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for n in args.sizes:
            rows.append(one_size(n, args.threads, Path(tmp)))
            row = rows[-1]
            print(f"{n} frames: build {row['build s']:.0f} s, train {row['train s']:.0f} s, eval {row['eval s']:.0f} s")
    print("\n| frames | train / val rows | build s (per 1k) | train s (per 1k rows) | eval s (per 1k rows) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        k, tk, ek = r["frames"] / 1000, r["train rows"] / 1000, r["eval rows"] / 1000
        print(
            f"| {r['frames']:,} | {r['train rows']:,.0f} / {r['eval rows']:,.0f} | {r['build s']:.0f} "
            f"({r['build s'] / k:.1f}) | {r['train s']:.0f} ({r['train s'] / tk:.1f}) | {r['eval s']:.0f} "
            f"({r['eval s'] / ek:.1f}) |"
        )


if __name__ == "__main__":
    main()
