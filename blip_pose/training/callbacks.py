"""The run's side records (``preprocessing.json``, ``run_config.json``), written beside the model and into every
checkpoint, so the predictor and the model card can use any checkpoint on its own."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from blip_pose.geometry import Preprocessing
from blip_pose.run_record import RUN_CONFIG_FILE, TRAINING_KEYS


def run_config(model_args: Any, data_args: Any, training_args: TrainingArguments) -> dict[str, dict]:
    """``{"model": ..., "data": ..., "training": ...}``: what the run was given (training: the card's keys)."""
    training = training_args.to_dict()  # tokens masked
    return {
        "model": asdict(model_args),
        "data": asdict(data_args),
        "training": {key: training[key] for key in TRAINING_KEYS if key in training},
    }


class RunRecord:
    """Both records of a run; :meth:`save` writes them into a folder."""

    def __init__(self, preprocessing: Preprocessing, config: dict[str, dict]) -> None:
        self.preprocessing = preprocessing
        self.config = config

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.preprocessing.save(folder)
        (folder / RUN_CONFIG_FILE).write_text(json.dumps(self.config, indent=2) + "\n")


class RunRecordCallback(TrainerCallback):
    """Writes the run's records into each checkpoint the Trainer saves."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> TrainerControl:
        if state.is_world_process_zero:
            checkpoint = Path(str(args.output_dir)) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            if checkpoint.is_dir():
                self.record.save(checkpoint)
        return control
