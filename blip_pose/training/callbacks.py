"""Trainer callbacks: the run's side records (``preprocessing.json``, ``run_config.json``, ``keypoints.json``: the
keypoint set the captions name), written beside the model
and into every checkpoint so the predictor and the model card can use any checkpoint on its own; and the kept epochs
that checkpoint rotation would delete."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import SaveStrategy

from blip_pose.geometry import Preprocessing
from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.run_folder import PREPROCESSING_FILE, RUN_CONFIG_FILE, RunFolder
from blip_pose.run_record import RESOLVED_DATASET_KEY, TRAINING_KEYS
from blip_pose.training.arguments import ConfigError, DataArguments


def run_config(
    model_args: Any, data_args: Any, training_args: TrainingArguments, dataset: dict[str, Any]
) -> dict[str, dict]:
    """``{"model": ..., "data": ..., "training": ...}``: what the run was given (training: the card's keys), and
    under ``data`` the dataset it loaded (:data:`~blip_pose.run_record.RESOLVED_DATASET_KEY`)."""
    return {
        "model": asdict(model_args),
        "data": {**asdict(data_args), RESOLVED_DATASET_KEY: dataset},
        "training": training_record(training_args),
    }


def training_record(training_args: TrainingArguments) -> dict[str, Any]:
    """The ``training`` section of ``run_config.json``: the card's keys of the arguments (tokens masked)."""
    training = training_args.to_dict()
    return {key: training[key] for key in TRAINING_KEYS if key in training}


_STAGING = ".run-records.tmp"


class RunRecord:
    """The records of a run; :meth:`save` writes them into a folder."""

    def __init__(
        self, preprocessing: Preprocessing, config: dict[str, dict], spec: KeypointSpec = DEFAULT_SPEC
    ) -> None:
        self.preprocessing = preprocessing
        self.config = config
        self.spec = spec

    def retrain(self, training_args: TrainingArguments) -> None:
        """The record of the same model and data trained with other arguments (a sweep trial): the ``training``
        section alone changes, so a trial records its data (resolved folder, recorded source) as a run does."""
        self.config["training"] = training_record(training_args)

    def save(self, folder: str | Path) -> None:
        """Written in a staging folder and renamed in, so a kill leaves each record whole or absent."""
        folder = Path(folder)
        staging = folder / _STAGING
        staging.mkdir(parents=True, exist_ok=True)
        written = [self.preprocessing.save(staging), staging / RUN_CONFIG_FILE, self.spec.save(staging)]
        written[1].write_text(json.dumps(self.config, indent=2) + "\n")
        for path in written:
            os.replace(path, folder / path.name)
        staging.rmdir()

    @staticmethod
    def missing(folder: Path) -> bool:
        """Whether ``folder`` lacks a record, or a kill cut its :meth:`save` short."""
        absent = not all((folder / name).is_file() for name in (PREPROCESSING_FILE, RUN_CONFIG_FILE))
        return absent or (folder / _STAGING).exists()


def _checkpoints(args: TrainingArguments) -> list[Path]:
    """The run's ``checkpoint-*`` folders that hold a Trainer state (those left to a resumed run are complete)."""
    folders = RunFolder(str(args.output_dir)).checkpoints()
    return [folder for folder in folders if (folder / TRAINER_STATE_NAME).is_file()]


class RunRecordCallback(TrainerCallback):
    """Writes the run's records into each checkpoint the Trainer saves.

    The Trainer calls ``on_save`` after the checkpoint is complete and rotated; a run killed in between is resumed
    from that checkpoint without saving it again, so a resumed run first gives its checkpoints the records they lack.
    """

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> TrainerControl:
        if state.is_world_process_zero and state.global_step > 0:
            for checkpoint in _checkpoints(args):
                if self.record.missing(checkpoint):
                    self.record.save(checkpoint)
        return control

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> TrainerControl:
        if state.is_world_process_zero:
            checkpoint = RunFolder(str(args.output_dir)).checkpoint(state.global_step)
            if checkpoint.is_dir():
                self.record.save(checkpoint)
        return control


KEPT_EPOCH_PREFIX = "epoch-"


class KeepEpochsCallback(TrainerCallback):
    """Keeps the checkpoints of chosen epochs (the method kept 1, 15 and 23 of 25) as ``epoch-NN/`` folders.

    ``save_total_limit`` rotation deletes every ``checkpoint-*`` but the best and the newest; a kept epoch is
    hard-linked to a name the rotation does not match, so it costs no disk space until its checkpoint is rotated away.
    A resumed run links its kept checkpoints again: a kill during the links leaves a part of a folder that the
    resumed checkpoint's save, which is not repeated, would have completed.
    """

    def __init__(self, epochs: Sequence[int]) -> None:
        self.epochs = set(epochs)

    @classmethod
    def from_args(cls, args: TrainingArguments) -> KeepEpochsCallback | None:
        epochs = getattr(args, "keep_epochs", None)
        if not epochs:
            return None
        if args.save_strategy != SaveStrategy.EPOCH:
            strategy = SaveStrategy(args.save_strategy).value
            raise ConfigError(f"--keep_epochs needs --save_strategy epoch, got {strategy!r}")
        late = [e for e in epochs if e < 1 or (args.max_steps <= 0 and e > args.num_train_epochs)]
        if late:
            raise ConfigError(f"--keep_epochs {late} outside epochs 1..{args.num_train_epochs:g} of this run")
        return cls(epochs)

    def _keep(self, checkpoint: Path, epoch: float | None) -> None:
        epoch = round(epoch or 0)
        if epoch in self.epochs:
            kept = checkpoint.parent / f"{KEPT_EPOCH_PREFIX}{epoch:02d}"
            if kept.exists():  # a resumed run saves the epoch again
                shutil.rmtree(kept)
            shutil.copytree(checkpoint, kept, copy_function=os.link)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> TrainerControl:
        if state.is_world_process_zero and state.global_step > 0:
            for checkpoint in _checkpoints(args):
                self._keep(checkpoint, TrainerState.load_from_json(str(checkpoint / TRAINER_STATE_NAME)).epoch)
        return control

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> TrainerControl:
        if state.is_world_process_zero:
            self._keep(RunFolder(str(args.output_dir)).checkpoint(state.global_step), state.epoch)
        return control


def study_callbacks(trainer: Trainer, train_split: Dataset, data_args: DataArguments) -> list[TrainerCallback]:
    """The callbacks the method's study asks for by config: ``--keep_epochs`` and ``--train_eval_samples``."""
    from blip_pose.training.evaluation import TrainSubsetEvaluation

    callbacks = (
        KeepEpochsCallback.from_args(trainer.args),
        TrainSubsetEvaluation.from_args(trainer, train_split, data_args),
    )
    return [callback for callback in callbacks if callback is not None]
