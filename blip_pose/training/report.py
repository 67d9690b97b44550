"""What a run tells its user: headline scores on the console, which checkpoint the final numbers come from and
why, and a closing summary of scores and output paths (the full metric dicts go to the files and TensorBoard)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import (
    PrinterCallback,
    ProgressCallback,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.utils import logging as hf_logging

from blip_pose.run_folder import RunFolder, checkpoint_step
from blip_pose.training.evaluation import TRAIN_SUBSET_PREFIX
from blip_pose.training.results import write_atomically

#: Scores shown on the console, in this order (``eval_`` prefixed in the Trainer's logs).
HEADLINE_METRICS = (
    "accuracy@25",
    "accuracy@5",
    "accuracy@1",
    "mae",
    "pckh@0.5",
    "pck_person@0.2",
    "coco_AP",
    "parse_rate",
)
#: Non-score keys of an evaluation log kept on the console.
_KEPT = ("eval_loss", "epoch", "step")


def headline(logs: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's log without the per-joint and auxiliary keys; any other log unchanged."""
    if not any(key.startswith("eval_") for key in logs):
        return logs
    keep = (*_KEPT, *(f"eval_{name}" for name in HEADLINE_METRICS))
    return {key: logs[key] for key in keep if key in logs}


def evaluation_line(logs: dict[str, Any], step: int) -> str | None:
    """An evaluation's headline scores as one labelled console line (the validation split's or, for ``eval_train_*``
    keys, the training subset's); None for any other log (losses go to the progress bar, files and TensorBoard)."""
    when = "step 0 (before training)" if step == 0 else f"step {step}"
    if any(key.startswith(f"{TRAIN_SUBSET_PREFIX}_") for key in logs):
        scores = _scores(logs, f"{TRAIN_SUBSET_PREFIX}_")
        return f"{when}, training subset: {scores}" if scores else None
    kept = headline(logs)
    if kept is logs:  # not an evaluation
        return None
    loss = kept.get("eval_loss")
    return f"{when}, validation: {_scores(kept)}" + (f", loss {loss:.4f}" if isinstance(loss, float) else "")


class QuietConsole(ProgressCallback):
    """The console of a run: the training bar (the latest loss beside it) and one labelled line per evaluation.

    Replaces transformers' ProgressCallback, which nests a bar for every evaluation's batches and prints each log as
    a raw dict, and PrinterCallback (``--disable_tqdm``: the same lines, no bar). The final evaluation is left to
    the run's summary.
    """

    def __init__(self, bars: bool) -> None:
        super().__init__()
        self.bars = bars
        self.training = False
        self.saving_bars = True

    def on_train_begin(self, args, state, control, **kwargs):
        self.training = True
        # transformers' own bars (e.g. "Writing model shards" at every checkpoint) would cut the training bar.
        self.saving_bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        if self.bars:
            super().on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bars:
            super().on_step_end(args, state, control, **kwargs)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        return None  # no bar per evaluation: its line follows within seconds

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not (state.is_world_process_zero and self.training and logs):
            return
        if "loss" in logs and self.training_bar is not None:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)
        line = evaluation_line(logs, state.global_step)
        if line is not None:
            (self.training_bar.write if self.training_bar is not None else print)(line)

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False
        if self.saving_bars:
            hf_logging.enable_progress_bar()
        if self.bars:
            super().on_train_end(args, state, control, **kwargs)


def quiet_console(trainer: Trainer) -> None:
    """Swap the Trainer's console logger (ProgressCallback, or PrinterCallback with ``--disable_tqdm``) for
    :class:`QuietConsole`."""
    for plain, bars in ((ProgressCallback, True), (PrinterCallback, False)):
        if trainer.pop_callback(plain) is not None:
            trainer.add_callback(QuietConsole(bars))


class KeepLastUntilScored(TrainerCallback):
    """With ``load_best_model_at_end``, a best checkpoint exists only once the score rose above 0.

    The Trainer takes the first evaluation as the best so far, so a run whose accuracy stayed 0 would end on its
    first checkpoint; with no checkpoint better than another, the last one (most trained) is kept instead.
    Runs after each save, where the Trainer has just named its best checkpoint.
    """

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        best = state.best_metric
        if args.greater_is_better and best is not None and not best > 0:
            state.best_model_checkpoint = None
            state.best_global_step = None  # else the next save names it again and keeps it from rotation

    # A checkpoint's state is written before ``on_save`` runs, so a run resumed from it starts with the best cleared.
    on_train_begin = on_save


def checkpoint_choice(state: TrainerState, args: TrainingArguments, split: str, num_images: int) -> dict[str, Any]:
    """Which checkpoint the final numbers are from and how it was chosen (``description`` says it in words)."""
    last = state.global_step
    metric = (args.metric_for_best_model or "loss").removeprefix("eval_")
    evaluations = sum(1 for row in state.log_history if f"eval_{metric}" in row)
    best = state.best_model_checkpoint
    step = checkpoint_step(best) if best is not None else None
    if args.load_best_model_at_end and step is not None:
        checkpoint = RunFolder(str(args.output_dir)).checkpoint(step).name
        description = (
            f"{checkpoint} (step {step} of {last}), the best {metric} of {evaluations} "
            f"evaluations on the `{split}` split ({num_images} images): chosen on the images it is scored on, "
            "so the numbers are an optimistic estimate"
        )
        return {
            "checkpoint": checkpoint,
            "step": step,
            "rule": "best",
            "description": description,
        }
    if args.load_best_model_at_end:
        why = f"{metric} never rose above 0 in {evaluations} evaluations, so no checkpoint beat another"
    else:
        why = "load_best_model_at_end is off"
    description = f"the model at the last step ({last} of {last}; {why})"
    return {"checkpoint": None, "step": last, "rule": "last", "description": description}


def save_checkpoint_choice(choice: dict[str, Any], output_dir: str | Path) -> Path:
    path = RunFolder(output_dir).checkpoint_choice
    write_atomically(path, json.dumps(choice, indent=2) + "\n")
    return path


def _scores(metrics: dict[str, Any], prefix: str = "eval_") -> str:
    parts = []
    for name in HEADLINE_METRICS:
        value = metrics.get(f"{prefix}{name}")
        if not isinstance(value, (int, float)):
            continue
        if name == "mae":
            parts.append("mae n/a (no joint parsed)" if math.isnan(value) else f"mae {value:.2f} px")
        else:
            parts.append(f"{name} {value:.3f}")
    return ", ".join(parts) if parts else "no scores"


def _best_evaluation(history: list[dict[str, Any]], metric: str, greater: bool) -> dict[str, Any] | None:
    rows = [row for row in history if isinstance(row.get(f"eval_{metric}"), (int, float))]
    rows = [row for row in rows if not math.isnan(row[f"eval_{metric}"])]
    if not rows:
        return None
    return (max if greater else min)(rows, key=lambda row: row[f"eval_{metric}"])


def run_summary(
    output_dir: str | Path,
    history: list[dict[str, Any]],
    final: dict[str, Any],
    choice: dict[str, Any] | None,
    args: TrainingArguments,
) -> str:
    """The closing lines of a run: final and best scores, then where each output went (only those that exist)."""
    out, run = Path(output_dir), RunFolder(output_dir)
    metric = (args.metric_for_best_model or "accuracy@25").removeprefix("eval_")
    lines = [f"Run finished: {out}"]
    start = next((row for row in history if row.get("step") == 0 and f"eval_{metric}" in row), None)
    if start is not None:  # eval_on_start: what training started from, e.g. a pretrained model's own scores
        lines.append(f"  scores before training (step 0):\n    {_scores(start)}")
    if isinstance(final.get("train_loss"), float):
        lines.append(f"  training loss (mean over the whole run): {final['train_loss']:.4f}")
    if any(key.startswith("eval_") for key in final):
        source = f" of {choice['description']}" if choice else ""
        lines.append(f"  final scores{source}:\n    {_scores(final)}")
    greater = args.greater_is_better is not False
    best = _best_evaluation(history, metric, greater)
    if best is not None and greater and not best[f"eval_{metric}"] > 0:
        lines.append(f"  {metric} was 0 at every evaluation during training")
    elif best is not None:
        lines.append(f"  best {metric} during training, at step {best['step']}:\n    {_scores(best)}")
    paths = [
        ("model", out if (out / "model.safetensors").is_file() else None),
        ("model card", run.card),
        ("plots", run.plots),
        ("overlays", run.overlays),
        ("predictions", run.predictions),
        ("TensorBoard", run.tensorboard),
    ]
    for name, path in paths:
        if path is not None and path.exists():
            shown = f"tensorboard --logdir {path}" if name == "TensorBoard" else str(path)
            lines.append(f"  {name + ':':<13}{shown}")
    return "\n".join(lines)
