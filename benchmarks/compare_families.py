"""The captioner families side by side: each tiny preset trained on the same synthetic split for the same wall-clock
budget, evaluated with grammar-constrained decoding, one table (printed) and one figure (``analyze compare`` on the
run folders, kept in ``--out``: ``compare/compare.md``, ``.csv``, ``.png``).

Every preset is a random-initialised tiny model (no pretrained weights offline), so the scores compare how fast each
architecture learns the task from scratch, and the speeds what one training step and one evaluated image cost.
Training stops at the first step past ``--seconds`` (a callback); ``--max-steps`` caps it.

    python benchmarks/compare_families.py                       # every captioner preset; 60 s each
    python benchmarks/compare_families.py --seconds 300 --presets tiny tiny-ved --caption-column loc_text
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from blip_pose.analysis.compare import compare
from blip_pose.card import write_model_card
from blip_pose.generation import encode_loss_generate
from blip_pose.models import family_for_config
from blip_pose.training.arguments import parse_arguments
from blip_pose.training.session import configure, end_run, make_trainer, set_up
from blip_pose.training.signals import StopOnSignal
from pose_dataset import resolve_dataset

#: One tiny preset per captioner family (blip_pose.models).
CAPTIONER_PRESETS = ("tiny", "tiny-git", "tiny-ved", "tiny-paligemma", "tiny-florence2")
CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "tiny_test.yaml"
COLUMNS = (
    ("preset", "{}"),
    ("family", "{}"),
    ("steps", "{:.0f}"),
    ("acc@25", "{:.3f}"),
    ("acc@5", "{:.3f}"),
    ("mae px", "{:.1f}"),
    ("PCKh@0.5", "{:.3f}"),
    ("parse", "{:.2f}"),
    ("train samples/s", "{:.1f}"),
    ("eval images/s", "{:.2f}"),
    ("decoder steps/img", "{:.1f}"),
)


class TimeBudget(TrainerCallback):
    """Stops training at the first step end past ``seconds`` after training began."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.start >= self.seconds:
            control.should_training_stop = True


def run_preset(preset: str, dataset: str, out: Path, seconds: float, flags: list[str]) -> dict[str, float | str]:
    """Train ``preset`` for ``seconds``, evaluate it, and measure its decoder steps per image on one batch."""
    argv = [str(CONFIG), "--model_name_or_path", preset, "--dataset_name", dataset, "--output_dir", str(out), *flags]
    model_args, data_args, training_args = parse_arguments(argv)
    configure(training_args)
    setup = set_up(model_args, data_args, training_args, resolve_dataset, work_dir=out, write_card=write_model_card)
    trainer = make_trainer(setup, data_args, training_args, StopOnSignal(), model=setup.model)
    trainer.add_callback(TimeBudget(seconds))
    train_result = trainer.train()
    metrics = end_run(trainer, setup, data_args, train_result).metrics
    model = trainer.model.eval()
    batch = next(iter(trainer.get_eval_dataloader()))
    out_ids = encode_loss_generate(model, batch["pixel_values"], **trainer.generation_kwargs()).sequences
    assert out_ids is not None
    pad = setup.processor.tokenizer.pad_token_id
    steps = (out_ids[:, 1:] != pad).sum(1).float().mean().item()  # tokens written up to and including the end token
    return {
        "preset": preset,
        "family": family_for_config(model.config).name,
        "steps": trainer.state.global_step,
        "acc@25": metrics.get("eval_accuracy@25", float("nan")),
        "acc@5": metrics.get("eval_accuracy@5", float("nan")),
        "mae px": metrics.get("eval_mae", float("nan")),
        "PCKh@0.5": metrics.get("eval_pckh@0.5", float("nan")),
        "parse": metrics.get("eval_parse_rate", float("nan")),
        "train samples/s": train_result.metrics.get("train_samples_per_second", float("nan")),
        "eval images/s": metrics.get("eval_samples_per_second", float("nan")),
        "decoder steps/img": steps,
    }


def table(rows: list[dict[str, float | str]]) -> str:
    cells = [[name for name, _ in COLUMNS]] + [[fmt.format(row[name]) for name, fmt in COLUMNS] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in cells]
    return "\n".join([lines[0], "-+-".join("-" * w for w in widths), *lines[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(CAPTIONER_PRESETS))
    parser.add_argument("--seconds", type=float, default=60.0, help="training wall-clock budget per preset")
    parser.add_argument("--max-steps", type=int, default=100_000, help="step cap (the budget usually stops first)")
    parser.add_argument("--dataset", default="synthetic", help="dataset name or folder (default: %(default)s)")
    parser.add_argument("--caption-column", default="text")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("outputs/compare-families"), help="run folders and figure")
    args = parser.parse_args()
    flags = [
        *("--max_steps", str(args.max_steps), "--caption_column", args.caption_column),
        *("--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", str(args.batch_size)),
        *("--num_overlays", "0", "--use_cpu", str(not torch.cuda.is_available()).lower()),
    ]
    rows = [run_preset(p, args.dataset, args.out / p, args.seconds, flags) for p in args.presets]
    written = compare([str(args.out / p) for p in args.presets], args.out / "compare")
    budget = f"{args.seconds:.0f} s of training each on {args.dataset!r}"
    print(f"\n{budget} ({args.caption_column}), batch {args.batch_size}")
    print(table(rows))
    print("\n" + "\n".join(str(path) for path in written))


if __name__ == "__main__":
    main()
