"""The run's reported training figures, taken from the records of the whole run rather than the last ``train()`` call.

The Trainer's ``train_loss`` is the mean loss of the steps run in *this* call: after a killed run is resumed it covers
only the steps since the checkpoint, so a resumed run with the same weights as an uninterrupted one reported a
different "final training loss". ``trainer_state.json``'s ``log_history`` travels with every checkpoint and holds the
loss of every logged interval since step 0; :class:`LogBeforeSaves` makes those intervals cover every step.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class LogBeforeSaves(TrainerCallback):
    """Logs the running loss whenever the Trainer is about to save, evaluate or stop.

    The Trainer logs only every ``logging_steps``: the loss of the steps between the last log and a checkpoint
    would be lost from the history a resumed run continues, and that of the steps after the last log is never
    recorded at all.
    """

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        if control.should_save or control.should_evaluate or control.should_training_stop:
            control.should_log = True

    on_epoch_end = on_step_end


def mean_training_loss(log_history: Sequence[dict[str, Any]]) -> float | None:
    """The mean loss per step over every logged step since step 0 (each row's ``loss`` is its interval's mean)."""
    previous, total, steps = 0, 0.0, 0
    for row in log_history:
        if "loss" in row:
            interval = int(row["step"]) - previous
            total += float(row["loss"]) * interval
            steps += interval
            previous = int(row["step"])
    return total / steps if steps else None


def whole_run_train_metrics(
    metrics: dict[str, float], state: TrainerState, resumed_from: ResumePoint | None
) -> dict[str, float]:
    """``train()``'s metrics with ``train_loss`` over the whole run, also in the state's final summary row.

    A resumed run records the step it resumed from (read when the checkpoint was chosen: the run's rotation may have
    deleted it since): its runtime and throughput figures cover only the steps after it.
    """
    metrics = dict(metrics)
    loss = mean_training_loss(state.log_history)
    if loss is not None:
        metrics["train_loss"] = loss
        for row in reversed(state.log_history):
            if "train_loss" in row:
                row["train_loss"] = loss
                break
    if resumed_from is not None:
        metrics["train_resumed_from_step"] = resumed_from.step
    return metrics


class ResumePoint(str):
    """A checkpoint folder to resume from (the path the Trainer takes) and the step it was saved at."""

    step: int

    def __new__(cls, folder: str | Path, step: int) -> ResumePoint:
        point = super().__new__(cls, str(folder))
        point.step = step
        return point


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file renamed over ``path``: a kill leaves the old file or the new, never half."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
