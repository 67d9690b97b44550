"""Build speed and memory of ``python -m mpii_pose_dataset build`` on N synthetic 1280x720 MPII-style images.

    python benchmarks/bench_build.py --n 1000 --num-proc 2

Writes N JPEGs (copies of a few distinct photo-like frames, ~MPII file sizes) and a matching annotation file in a
temporary folder, runs the build command in a child process and reports images/s (whole command, start-up and
parquet writing included) and the peak resident memory of the largest process (children included, from
``resource.getrusage``). Goal: >= 150 images/s on 2 cores and < 1 GB peak RSS whatever N.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mpii_pose_dataset.matfile import release_struct, write_release

WIDTH, HEIGHT = 1280, 720


def frame(seed: int) -> Image.Image:
    """A photo-like frame: smooth shading, blurred shapes and sensor noise (JPEG cost close to real video frames)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([(xx * rng.uniform(0.05, 0.2) + yy * rng.uniform(0.05, 0.2) + rng.uniform(0, 80)) % 255] * 3, -1)
    image = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.integers(0, WIDTH), rng.integers(0, HEIGHT)
        w, h = rng.integers(20, 300, size=2)
        draw.ellipse([x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    image = image.filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(image, dtype=np.int16) + rng.normal(0, 6, (HEIGHT, WIDTH, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def person(rng: np.random.Generator) -> dict:
    xy = rng.uniform((300, 100), (900, 650), size=(16, 2))
    return {
        "x1": float(xy[9, 0] - 20),
        "y1": float(xy[9, 1] - 20),
        "x2": float(xy[9, 0] + 20),
        "y2": float(xy[9, 1] + 20),
        "scale": 2.5,
        "objpos": {"x": float(xy[:, 0].mean()), "y": float(xy[:, 1].mean())},
        "annopoints": {
            "point": [{"id": j, "x": float(x), "y": float(y), "is_visible": 1} for j, (x, y) in enumerate(xy)]
        },
    }


def make_release(root: Path, n: int, distinct: int = 16) -> None:
    images = root / "images"
    images.mkdir(parents=True)
    sources = []
    for k in range(distinct):
        path = images / f"base{k:02d}.jpg"
        frame(k).save(path, quality=90)
        sources.append(path)
    rng = np.random.default_rng(0)
    annolist = []
    for i in range(n):
        name = f"{i:09d}.jpg"
        shutil.copyfile(sources[i % distinct], images / name)
        annolist.append({"image": {"name": name}, "annorect": [person(rng)], "vididx": 1 + i // 10, "frame_sec": 1.0})
    write_release(root / "mpii_human_pose_v1_u12_1.mat", release_struct(annolist, img_train=[1] * n))
    mean_kb = np.mean([p.stat().st_size for p in sources]) / 1024
    print(f"wrote {n} images ({distinct} distinct, {mean_kb:.0f} KB each on average) to {images}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--config", default="paper")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_build_") as tmp:
        root = Path(tmp) / "mpii"
        make_release(root, args.n)
        command = [
            sys.executable,
            "-m",
            "mpii_pose_dataset",
            "build",
            "--mpii-dir",
            str(root),
            "--output",
            str(Path(tmp) / "out"),
            "--num-proc",
            str(args.num_proc),
            "--config",
            args.config,
            "--cache-dir",
            str(Path(tmp) / "cache"),
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
        size_mb = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*.parquet")) / 2**20
    print(
        f"config={args.config} n={args.n} num_proc={args.num_proc}: {seconds:.1f} s, "
        f"{args.n / seconds:.0f} images/s, peak RSS {peak_mb:.0f} MB (largest process), parquet {size_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
