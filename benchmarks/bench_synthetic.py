"""Generation speed of the procedural people source (``python -m mpii_pose_dataset build --synthetic N``), one core.

    python benchmarks/bench_synthetic.py --n 1000 --repeats 3

Times :func:`mpii_pose_dataset.synthetic.generate` (drawing, JPEG files and the annotation ``.mat``) into a fresh
temporary folder per repeat, in this one process (one core), and reports images/s as min / median over repeats,
plus the share of the time spent writing the ``.mat`` (scipy's writer, one element per joint field). The build
through the dataset builder is measured by ``bench_build.py``. Goal: >= 200 images/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from mpii_pose_dataset import synthetic


def one_run(n: int, seed: int) -> tuple[float, float]:
    """Seconds for the whole generation and for the ``.mat`` write alone."""
    mat_seconds = 0.0
    write = synthetic.write_release

    def timed_write(*args: object) -> Path:
        nonlocal mat_seconds
        start = time.perf_counter()
        out = write(*args)
        mat_seconds += time.perf_counter() - start
        return out

    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(synthetic, "write_release", timed_write):
        start = time.perf_counter()
        synthetic.generate(Path(tmp), n, seed)
        return time.perf_counter() - start, mat_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.n, seed) for seed in range(args.repeats)]
    rates = sorted(args.n / total for total, _ in runs)
    mat_share = statistics.median(mat / total for total, mat in runs)
    print(
        f"synthetic generation, {args.n} images of {synthetic.SIZE}x{synthetic.SIZE}, {args.repeats} repeats: "
        f"min {rates[0]:.0f} / median {statistics.median(rates):.0f} images/s "
        f"(.mat write {mat_share:.0%} of the time; goal >= 200 images/s)"
    )


if __name__ == "__main__":
    main()
