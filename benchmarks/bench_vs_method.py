"""The project's training and evaluation paths against a loop written the way the method's notebook did it.

Same process, same random-initialised weights, paths interleaved, ``--reps`` repetitions; prints min / median
seconds, samples (or images) per second and the ratio of medians to the method-style loop.

* method-style: ``processor(images=PIL, text=captions)`` every batch, ``model(**inputs, labels=input_ids)``,
  ``torch.optim.AdamW`` (single-tensor on CPU), and at evaluation a loss pass plus ``generate`` one image at a time
  (the vision encoder runs twice per image);
* project: pixels from the pixel cache, ``PoseCaptionCollator``, SDPA attention, fused AdamW, and at evaluation one
  vision pass per batch for loss and captions (:mod:`blip_pose.generation`), ``text`` or ``loc_text`` captions,
  with grammar-constrained decoding on or off (off: the same number of decoder steps, forced).

Random weights never stop by themselves, so unconstrained generation is held to the caption's length; constrained
generation stops where the grammar puts EOS (``text``: 83 steps with the presets' vocabulary, ~105 with BERT's;
``loc_text``: 33). ``base`` is ``BlipConfig()`` (ViT-B/16 384 px, BERT-base decoder, 30524-token head) with the
presets' tokenizer; its evaluation runs the method-style loop on ``--base-method-images`` images (its cost per image
does not depend on the batch) to keep the run to minutes on 2 cores.

    python benchmarks/bench_vs_method.py                       # CPU, 1 thread as accelerate sets
    python benchmarks/bench_vs_method.py --archs tiny --reps 5
    python benchmarks/bench_vs_method.py --archs base --parts eval   # BLIP-base evaluation alone
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode
from transformers import BlipConfig, BlipForConditionalGeneration, LogitsProcessorList

from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import encode_loss_generate
from blip_pose.loc_tokens import add_loc_tokens
from blip_pose.pose_format import render_captions
from blip_pose.presets import build_preset
from blip_pose.sdpa import use_sdpa
from blip_pose.training.collator import PoseCaptionCollator

SAMPLE = Path(__file__).resolve().parents[1] / "mpii_pose_dataset" / "sample" / "images"
SIZE = 384


def models(arch: str) -> tuple[BlipForConditionalGeneration, BlipForConditionalGeneration, object]:
    """(method model: eager, project model: SDPA) with identical weights, and the processor (loc tokens added)."""
    tiny, processor = build_preset("tiny")
    add_loc_tokens(tiny, processor.tokenizer)
    if arch == "tiny":
        model = tiny
    else:
        torch.manual_seed(0)
        model = BlipForConditionalGeneration(BlipConfig())  # the real 30524-token head; the tokenizer's ids fit
        text = model.config.text_config
        tok = processor.tokenizer
        text.bos_token_id, text.pad_token_id, text.sep_token_id = tok.bos_token_id, tok.pad_token_id, tok.sep_token_id
        processor.image_processor.size = {"height": SIZE, "width": SIZE}
    project = BlipForConditionalGeneration(model.config)
    project.load_state_dict(model.state_dict())
    use_sdpa(project)
    return model, project, processor


def data(n: int) -> tuple[list[Image.Image], dict[str, list[str]]]:
    photos = sorted(SAMPLE.glob("*.jpg"))
    images = [Image.open(photos[i % len(photos)]).convert("RGB").resize((SIZE, SIZE)) for i in range(n)]
    rng = np.random.default_rng(0)
    rows = [render_captions(rng.integers(0, SIZE, (16, 2)).astype(float), np.ones(16), SIZE, SIZE) for _ in range(n)]
    return images, {column: [r[column] for r in rows] for column in ("text", "loc_text")}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(title: str, unit: str, n: int, times: dict[str, list[float]]) -> None:
    base = statistics.median(times["method-style"])
    print(f"\n{title}")
    for name, values in times.items():
        med = statistics.median(values)
        print(
            f"  {name:38s} min {min(values):8.3f}s  median {med:8.3f}s  {n / med:8.2f} {unit}/s  "
            f"ratio {base / med:5.2f}x"
        )


def bench(arch: str, args: argparse.Namespace) -> None:
    method, project, processor = models(arch)
    bos = method.config.text_config.bos_token_id
    train_n, eval_n = args.train_batch, args.eval_batch
    images, captions = data(max(train_n, eval_n))
    pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]  # the pixel cache
    collators = {c: PoseCaptionCollator(processor, bos, c) for c in captions}

    def cached_batch(column: str, n: int) -> dict[str, torch.Tensor]:
        return collators[column]([{column: captions[column][i], "pixel_values": pixels[i]} for i in range(n)])

    if "train" in args.parts:
        bench_training(arch, args, method, project, processor, images, captions, cached_batch)
    if "eval" in args.parts:
        bench_evaluation(arch, args, method, project, processor, images, captions, cached_batch)


def bench_training(
    arch: str,
    args: argparse.Namespace,
    method: Any,
    project: Any,
    processor: Any,
    images: list,
    captions: dict,
    cached_batch: Callable,
) -> None:
    # --- training ------------------------------------------------------------------------------------------------
    train_n = args.train_batch
    method_opt = torch.optim.AdamW(method.parameters(), lr=1e-5)
    project_opt = torch.optim.AdamW(project.parameters(), lr=1e-5, fused=True)

    def method_step() -> None:
        inputs = processor(images=images[:train_n], text=captions["text"][:train_n], return_tensors="pt", padding=True)
        method(**inputs, labels=inputs["input_ids"]).loss.backward()
        method_opt.step()
        method_opt.zero_grad()

    def project_step(column: str) -> Callable[[], None]:
        def step() -> None:
            project(**cached_batch(column, train_n)).loss.backward()
            project_opt.step()
            project_opt.zero_grad()

        return step

    method.train()
    project.train()
    train_paths = {
        "method-style": method_step,
        "project text": project_step("text"),
        "project loc": project_step("loc_text"),
    }
    steps = args.train_steps if arch == "tiny" else 1
    for fn in train_paths.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in train_paths}
    for _ in range(args.reps):
        for name, fn in train_paths.items():
            times[name].append(timed(lambda fn=fn: [fn() for _ in range(steps)]))
    report(f"{arch}: training, batch {train_n}, {steps} step(s) per rep", "samples", train_n * steps, times)
    medians = {name: statistics.median(values) / steps for name, values in times.items()}
    compute_bound(train_paths["project text"], medians["method-style"], medians["project text"])


def matmul_rate() -> float:
    """This CPU's fp32 matrix-product rate (GFLOP/s) on a ViT-B MLP-shaped product (577·4 × 768 × 3072)."""
    a, b = torch.randn(577 * 4, 768), torch.randn(768, 3072)
    for _ in range(2):
        a @ b
    seconds = min(timed(lambda: a @ b) for _ in range(10))
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / seconds / 1e9


def compute_bound(step: Callable[[], None], method_seconds: float, project_seconds: float) -> None:
    """How close the steps run to the CPU's matrix-product rate. Both do the same arithmetic (the method's eager
    attention multiplies the same matrices), so no step that keeps it can beat the method-style loop by more than
    the inverse of the method's fraction."""
    with FlopCounterMode(display=False) as counter:
        step()
    gflop = counter.get_total_flops() / 1e9
    ceiling = matmul_rate()
    print(f"  one step: {gflop:.0f} GFLOP of matrix products and attention; this CPU's fp32 matmul rate {ceiling:.1f}")
    for name, seconds in (("method-style", method_seconds), ("project text", project_seconds)):
        rate = gflop / seconds
        print(f"  {name:38s} {rate:.1f} GFLOP/s = {rate / ceiling:.0%} of it")
    print(f"  ceiling for any step with this arithmetic: {ceiling * method_seconds / gflop:.2f}x the method-style loop")


def bench_evaluation(
    arch: str,
    args: argparse.Namespace,
    method: Any,
    project: Any,
    processor: Any,
    images: list,
    captions: dict,
    cached_batch: Callable,
) -> None:
    # --- evaluation ----------------------------------------------------------------------------------------------
    tok, eval_n = processor.tokenizer, args.eval_batch
    method.eval()
    project.eval()
    grammars = {c: CaptionGrammar(tok, c, SIZE, SIZE) for c in captions}
    text_steps = grammars["text"].max_new_tokens
    method_n = eval_n if arch == "tiny" else args.base_method_images

    @torch.no_grad()
    def method_eval() -> None:
        texts = captions["text"][:method_n]
        inputs = processor(images=images[:method_n], text=texts, return_tensors="pt", padding=True)
        method(**inputs, labels=inputs["input_ids"])
        for i in range(method_n):
            method.generate(
                pixel_values=inputs["pixel_values"][i : i + 1], max_new_tokens=text_steps, min_new_tokens=text_steps
            )

    def project_eval(column: str, constrained: bool) -> Callable[[], None]:
        grammar = grammars[column]
        steps = grammar.max_new_tokens
        limits = {"max_new_tokens": steps}
        if constrained:
            limits["logits_processor"] = LogitsProcessorList([grammar])  # type: ignore[assignment]
        else:
            limits["min_new_tokens"] = steps

        def run() -> None:
            batch = cached_batch(column, eval_n)
            encode_loss_generate(project, batch.pop("pixel_values"), **batch, **limits)  # type: ignore[arg-type]

        return run

    eval_paths: dict[str, Callable[[], None]] = {"method-style": method_eval}
    combos = [("text", True), ("loc_text", True), ("text", False), ("loc_text", False)]
    for column, constrained in combos if arch == "tiny" else combos[:2]:
        name = f"project {column.removesuffix('_text')} constrained {'on' if constrained else 'off'}"
        eval_paths[name] = project_eval(column, constrained)
    for fn in eval_paths.values():
        if arch == "tiny":
            fn()  # warm-up (BLIP-base: too slow to spare; its first rep carries the warm-up)
    times = {name: [] for name in eval_paths}
    for _ in range(args.reps):
        for name, fn in eval_paths.items():
            elapsed = timed(fn)
            # Per image: the method-style loop may run on fewer images than the project's batch.
            times[name].append(elapsed * eval_n / (method_n if name == "method-style" else eval_n))
    report(
        f"{arch}: evaluation, batch {eval_n} (loss + captions; decoder steps per image: text {text_steps}, "
        f"loc {grammars['loc_text'].max_new_tokens}; method-style timed on {method_n} images, scaled to {eval_n})",
        "images",
        eval_n,
        times,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="tiny,base")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (accelerate launch sets 1 per process)")
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--eval-batch", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=5, help="tiny steps per rep (BLIP-base: 1)")
    parser.add_argument("--base-method-images", type=int, default=2)
    parser.add_argument("--parts", default="train,eval", help="train, eval or both")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    for arch in args.archs.split(","):
        bench(arch, args)


if __name__ == "__main__":
    main()
