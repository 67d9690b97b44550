"""Issue 25's offline answer: the tiny captioner and the tiny heatmap baseline on the same procedural people, the
same steps, batch and learning rate, on CPU, then ``analyze compare`` on both runs.

    python benchmarks/heatmap_baseline.py --synthetic_size 64 --max_steps 10 --out outputs/baseline

Each run is ``training/run.py training/configs/tiny_test.yaml`` with ``--dataset_name synthetic`` (the same seed,
so the same frames, built once per run folder), the same ``--max_steps`` and batch size (so the same training
samples) and the same evaluation split; only ``--model_name_or_path`` differs (``tiny`` vs ``tiny-vitpose``). The
table also gives each run's wall clock and samples/s, so "same steps" can be read as "same time" too.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"captioner": "tiny", "heatmap": "tiny-vitpose"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic_size", type=int, default=64, help="procedural frames (default: %(default)s)")
    parser.add_argument("--max_steps", type=int, default=10, help="training steps of each run (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=8, help="training batch (default: %(default)s)")
    parser.add_argument("--max_eval_samples", type=int, default=8, help="validation images (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("outputs/baseline"), help="default: %(default)s")
    args = parser.parse_args(argv)
    runs = []
    for name, model in MODELS.items():
        run = args.out / name
        flags = ["--model_name_or_path", model, "--dataset_name", "synthetic"]
        flags += ["--synthetic_size", str(args.synthetic_size), "--max_steps", str(args.max_steps)]
        flags += ["--per_device_train_batch_size", str(args.batch_size), "--output_dir", str(run)]
        flags += ["--max_eval_samples", str(args.max_eval_samples), "--overwrite_output_dir", "true"]
        script = [sys.executable, str(ROOT / "training" / "run.py"), str(ROOT / "training/configs/tiny_test.yaml")]
        code = subprocess.run([*script, *flags]).returncode
        if code:  # the run printed its one-line error
            return code
        runs.append(str(run))
    compare = [sys.executable, "-m", "blip_pose", "analyze", "compare", *runs, "--out", str(args.out / "compare")]
    return subprocess.run(compare).returncode


if __name__ == "__main__":
    sys.exit(main())
