"""Trainer callbacks: every checkpoint carries the preprocessing record the predictor needs."""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from blip_pose.geometry import Preprocessing


class PreprocessingCallback(TrainerCallback):
    """Writes ``preprocessing.json`` into each checkpoint, so any checkpoint maps joints back to user pixels."""

    def __init__(self, preprocessing: Preprocessing) -> None:
        self.preprocessing = preprocessing

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> TrainerControl:
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            if checkpoint.is_dir():
                self.preprocessing.save(checkpoint)
        return control
