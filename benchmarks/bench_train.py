"""Throughput of the published recipe on the real BLIP-base architecture: training samples/s and generation images/s.

The model is ``BlipForConditionalGeneration(BlipConfig())``, randomly initialised: the real base architecture
(ViT-B/16 at 384 px, BERT-base decoder, 30524-token vocabulary) without the Salesforce weights, which cannot be
downloaded here. Batches are random images and captions of a pose caption's length, so the figures measure compute
only (no data loading). Training is AdamW lr 2e-5, batch 4 as in ``training/configs/paper.yaml``; on a GPU bf16
autocast is used when supported (``--dtype``).

    python benchmarks/bench_train.py                          # GPU if present, else CPU (a few steps)
    python benchmarks/bench_train.py --steps 200 --gen-batch-sizes 16,64 --dtype bf16
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from transformers import BlipConfig, BlipForConditionalGeneration

#: Tokens of a 16-joint caption with BERT's uncased WordPiece ("ran ##k ##l : 123 , 356"; 103-114 measured), plus
#: BOS/SEP. ``loc_text`` captions are 34 (32 coordinate tokens).
CAPTION_TOKENS = 105


def autocast(device: torch.device, dtype: str):
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def batch(config: BlipConfig, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    image = config.vision_config.image_size
    text = config.text_config
    ids = torch.randint(1000, text.vocab_size, (size, CAPTION_TOKENS), device=device)
    ids[:, 0] = text.bos_token_id
    ids[:, -1] = text.sep_token_id
    return {"pixel_values": torch.randn(size, 3, image, image, device=device), "input_ids": ids, "labels": ids}


def train_throughput(model, config, args, device) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    inputs = batch(config, args.batch_size, device)
    model.train()
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            synchronize(device)
            start = time.perf_counter()
        with autocast(device, args.dtype):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize(device)
    return args.steps * args.batch_size / (time.perf_counter() - start)


@torch.no_grad()
def generation_throughput(model, config, size: int, device, dtype: str) -> tuple[float, float]:
    """(images/s for full-length captions, seconds per decoder step after the first, per batch)."""
    model.eval()
    pixel_values = batch(config, size, device)["pixel_values"]
    new_tokens = CAPTION_TOKENS - 1

    def run(tokens: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        model.generate(pixel_values=pixel_values, max_new_tokens=tokens, min_new_tokens=tokens)
        synchronize(device)
        return time.perf_counter() - start

    # Warm up at the timed batch size (kernels are chosen per shape), then time 1 token and full-length captions:
    # the difference is the cost of the sequential decoder steps a caption's length buys.
    with autocast(device, dtype):
        run(4)
        first = run(1)
        full = run(new_tokens)
    return size / full, (full - first) / (new_tokens - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], help="default: bf16 on a GPU that has it")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, help="timed training steps (default: 100 on a GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--gen-batch-sizes", default=None, help="comma-separated (default: 16,64 GPU / 4 CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    args.dtype = args.dtype or ("bf16" if gpu and torch.cuda.is_bf16_supported() else "fp32")
    args.steps = args.steps or (100 if gpu else 3)
    gen_sizes = [int(s) for s in (args.gen_batch_sizes or ("16,64" if gpu else "4")).split(",")]

    torch.manual_seed(0)
    config = BlipConfig()
    model = BlipForConditionalGeneration(config).to(device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    where = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"BLIP-base (random init, {params:.0f}M parameters) on {where}, {args.dtype}")
    print(
        f"training   batch {args.batch_size}: {train_throughput(model, config, args, device):8.2f} samples/s "
        f"({args.steps} steps)"
    )
    for size in gen_sizes:
        rate, per_token = generation_throughput(model, config, size, device, args.dtype)
        print(
            f"generation batch {size:3d}: {rate:8.2f} images/s ({CAPTION_TOKENS - 1} new tokens each); "
            f"{per_token * 1e3:.1f} ms per decoder step after the first ({per_token / size * 1e3:.2f} ms per image)"
        )
    if gpu:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
