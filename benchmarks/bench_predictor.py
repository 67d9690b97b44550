"""Speed of PosePredictor: images/s by batch size, and how much of it is not the model (open, transform, parse).

Goal: everything around ``generate`` (EXIF-aware open, box transform, processor, parse, inverse map) takes < 10% of
the time of a BLIP-base prediction, so batching and the device decide the speed. Random weights (presets), no
download:

    python benchmarks/bench_predictor.py --threads 1              # tiny preset, sample photos, batch 1/8/32
    python benchmarks/bench_predictor.py --preset base --n 16 --batch-sizes 8 --device cuda --dtype float16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from blip_pose.geometry import Preprocessing
from blip_pose.predictor import PosePredictor, load_image
from blip_pose.presets import save_preset

SAMPLE = Path(__file__).resolve().parents[1] / "mpii_pose_dataset" / "sample" / "images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "base"])
    parser.add_argument("--n", type=int, default=32, help="images (the sample photos, repeated)")
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--device")
    parser.add_argument("--dtype")
    parser.add_argument("--threads", type=int, help="torch CPU threads (fewer than the free cores avoids spin-waits)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    photos = sorted(SAMPLE.glob("*.jpg"))
    paths = [photos[i % len(photos)] for i in range(args.n)]
    with tempfile.TemporaryDirectory() as folder:
        save_preset(args.preset, folder)
        Preprocessing().save(folder)
        predictor = PosePredictor.from_pretrained(folder, device=args.device, dtype=args.dtype)
    predictor(paths[:1])  # warm-up

    start = time.perf_counter()
    images = [load_image(p)[0] for p in paths]
    frames = [predictor.transform_for(im.width, im.height).apply(im) for im in images]
    predictor.processor(images=frames, return_tensors="pt")
    overhead = time.perf_counter() - start
    print(
        f"{args.preset} on {predictor.device} ({predictor.dtype}), {args.n} sample photos of "
        f"{images[0].width}x{images[0].height}"
    )
    print(f"open + transform + processor: {overhead / args.n * 1000:.1f} ms/image")
    for batch_size in map(int, args.batch_sizes.split(",")):
        start = time.perf_counter()
        results = predictor(paths, batch_size=batch_size)
        elapsed = time.perf_counter() - start
        tokens = sum(len(predictor.processor.tokenizer.tokenize(r.caption)) for r in results) / len(results)
        print(
            f"batch {batch_size:3d}: {args.n / elapsed:7.2f} images/s ({elapsed / args.n * 1000:.0f} ms/image, "
            f"{tokens:.0f} caption tokens on average; non-model share {overhead / elapsed:.1%})"
        )


if __name__ == "__main__":
    main()
