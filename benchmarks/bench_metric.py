"""Speed of the pose metric on caption pairs, parsing included: numpy core and evaluate module.

Goal: >= 100k pairs/s on one core through blip_pose.pose_metrics. Run on one core with

    taskset -c 0 python benchmarks/bench_metric.py                # 100k canonical pairs
    taskset -c 0 python benchmarks/bench_metric.py --messy 0.1    # 10% predictions spaced, upper-cased, a joint missing
    taskset -c 0 python benchmarks/bench_metric.py --decoded 1    # every prediction as tokenizer.decode writes it
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import evaluate
import numpy as np

from blip_pose.pose_format import render_coords
from blip_pose.pose_metrics import parse_captions, pose_scores

METRIC_DIR = Path(__file__).resolve().parents[1] / "metrics" / "pose_threshold_accuracy"


def make_pairs(n: int, messy: float, decoded: float = 0.0, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    """Reference captions, predictions (reference + noise; a ``messy`` share spaced, upper-cased, a joint dropped;
    a ``decoded`` share spaced as a WordPiece ``tokenizer.decode`` writes a complete caption)."""
    rng = np.random.default_rng(seed)
    ref = rng.uniform(0, 384, (n, 16, 2))
    pred = ref + rng.normal(0, 4, ref.shape)
    refs = [render_coords(p) for p in ref]
    preds = [render_coords(p) for p in pred]
    for i in np.flatnonzero(rng.random(n) < messy):
        words = preds[i].split(" ")
        del words[rng.integers(len(words))]
        preds[i] = " ".join(words).replace(":", " : ").replace(",", " , ").upper()
    for i in np.flatnonzero(rng.random(n) < decoded):
        preds[i] = preds[i].replace(":", " : ").replace(",", ", ").replace("_", " _ ").replace("-", "- ")
    return preds, refs, ref


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="caption pairs")
    parser.add_argument("--messy", type=float, default=0.0, help="share of predictions not in canonical form")
    parser.add_argument(
        "--decoded",
        type=float,
        default=0.0,
        help="share of complete predictions spaced like "
        "tokenizer.decode output ('rankl : 12, 30 upper _ neck : ...'), as a trained model emits",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--skip-evaluate", action="store_true", help="time the numpy core only")
    args = parser.parse_args()

    preds, refs, ref_points = make_pairs(args.n, args.messy, args.decoded)
    n = args.n

    def core():
        pred_xy, pred_found = parse_captions(preds)
        ref_xy, ref_found = parse_captions(refs, what="references", check_type=True)
        return pose_scores(pred_xy, pred_found, ref_xy, ref_found)

    seconds, scores = best_time(core, args.repeat)
    parse_s, parsed = best_time(lambda: (parse_captions(preds), parse_captions(refs, check_type=True)), args.repeat)
    (pred_xy, pred_found), (ref_xy, ref_found) = parsed
    math_s, _ = best_time(lambda: pose_scores(pred_xy, pred_found, ref_xy, ref_found), args.repeat)
    print(
        f"{n} pairs, messy share {args.messy}, decoded share {args.decoded}: "
        f"accuracy@5 {scores['accuracy@5']:.4f}, mae {scores['mae']:.3f}, parse_rate {scores['parse_rate']:.4f}"
    )
    print(f"pose_scores + parsing : {seconds:.3f} s  {n / seconds:>9,.0f} pairs/s  (goal 100,000)")
    print(f"  parsing both sides  : {parse_s:.3f} s  {n / parse_s:>9,.0f} pairs/s")
    print(f"  metric math only    : {math_s:.3f} s  {n / math_s:>9,.0f} pairs/s")
    if args.skip_evaluate:
        return
    for keep_in_memory in (True, False):
        metric = evaluate.load(str(METRIC_DIR), keep_in_memory=keep_in_memory)
        seconds, result = best_time(
            lambda metric=metric: metric.compute(predictions=preds, references=refs), args.repeat
        )
        assert np.allclose(list(result.values()), list(scores.values()), equal_nan=True), "module disagrees"
        where = "in memory" if keep_in_memory else "arrow file"
        print(f"evaluate captions ({where:10}): {seconds:.3f} s  {n / seconds:>9,.0f} pairs/s")
    metric = evaluate.load(str(METRIC_DIR), keep_in_memory=True)
    arrays = list(ref_points)
    seconds, _ = best_time(lambda: metric.compute(predictions=arrays, references=arrays), 1)
    print(f"evaluate arrays (in memory)  : {seconds:.3f} s  {n / seconds:>9,.0f} pairs/s")


if __name__ == "__main__":
    main()
