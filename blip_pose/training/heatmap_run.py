"""A heatmap model's run (issue 25): the same data, checks, records and metric as a captioner's, trained by
:class:`~blip_pose.heatmap.trainer.HeatmapTrainer`.

:func:`blip_pose.training.session.set_up` hands a run to :func:`heatmap_set_up` when the model's family is of kind
``"heatmap"`` (the one place a run branches on the kind); what it returns plugs into the same ``make_trainer`` and
``end_run``. The model sees the dataset's processed images, each one person whose box is the whole image (a
whole-image dataset's person box is the image), and learns the joints the caption column's references hold; its
predictions are scored by the run's own ``PoseMetrics`` on the same joints, so ``parse_rate`` is 1.0 (every joint
is predicted). The evaluation averages each image's heatmaps with its mirror's (flip test, ViTPose's default).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from datasets import Dataset
from transformers import EvalPrediction, PretrainedConfig, VitPoseForPoseEstimation

from blip_pose.checkpoint import local_or_hub
from blip_pose.dataset_source import reports_pckh_table
from blip_pose.heatmap.trainer import HeatmapCollator, HeatmapTrainer
from blip_pose.models import ModelFamily
from blip_pose.models.vitpose import HeatmapFamily
from blip_pose.pretrained import resolve_pretrained
from blip_pose.run_folder import RunFolder
from blip_pose.run_record import DATASET_SOURCE_KEY
from blip_pose.training.arguments import (
    ConfigError,
    DataArguments,
    ModelArguments,
    PoseTrainingArguments,
    first_per_storage,
)
from blip_pose.training.callbacks import RunRecord, run_config
from blip_pose.training.data import (
    DataError,
    References,
    check_images,
    check_split,
    dataset_keypoints,
    dataset_source,
    load_pose_dataset,
    preprocessing_record,
    references,
)
from blip_pose.training.evaluation import PoseMetrics, load_pose_metric
from blip_pose.training.inputs import resolved_dataset
from blip_pose.training.modeling import CheckpointError, preset_name
from blip_pose.training.trainer import JsonTrainingArgs


class HeatmapExamples(torch.utils.data.Dataset):
    """A split's rows as :class:`HeatmapCollator` examples: the processed image, its whole-image box and the
    reference joints (NaN where the caption has none)."""

    def __init__(self, split: Dataset, image_column: str, refs: References) -> None:
        self.images, self.image_column, self.refs = split.select_columns([image_column]), image_column, refs

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        image = self.images[i][self.image_column].convert("RGB")
        return {"image": image, "box": [0.0, 0.0, image.width, image.height], "keypoints": self.refs.xy[i]}


class HeatmapInputs(NamedTuple):
    """A heatmap run's :class:`~blip_pose.training.inputs.RunInputs`: the same fields, its own trainer arguments."""

    train: Dataset
    eval: Dataset
    references: References  # of the evaluation split
    record: RunRecord
    max_new_tokens: int  # 0: nothing is generated
    train_references: References

    def trainer_kwargs(
        self, processor: Any, model_config: PretrainedConfig, data_args: DataArguments, training_args: Any
    ) -> dict[str, Any]:
        spec = self.references.spec
        return {
            "train_dataset": HeatmapExamples(self.train, data_args.image_column, self.train_references),
            "eval_dataset": HeatmapExamples(self.eval, data_args.image_column, self.references),
            "data_collator": HeatmapCollator(processor, spec),
            "processing_class": processor,
            "processor": processor,
            "spec": spec,
            "flip_test": True,
        }


class RunHeatmapTrainer(JsonTrainingArgs, HeatmapTrainer):
    """The heatmap trainer of a run: training arguments saved as JSON, like every trainer of the project."""


class HeatmapMetrics(PoseMetrics):
    """``compute_metrics`` of a heatmap run: decoded joints (N, K, 3: x, y, score in processed pixels) scored by
    :meth:`PoseMetrics.score_joints`; the labels (the references' x, y, visibility) must match the split's rows."""

    def __call__(self, eval_pred: EvalPrediction) -> dict[str, float]:
        refs = self.references
        predictions, labels = np.asarray(eval_pred.predictions), np.asarray(eval_pred.label_ids)
        if len(predictions) != len(refs.names):
            raise RuntimeError(f"evaluation returned {len(predictions)} predictions for {len(refs.names)} examples")
        same = np.where(refs.found, np.abs(labels[..., :2] - refs.xy).max(-1) < 1e-3, True)
        if not same.all():
            row = int(np.flatnonzero(~same.all(axis=1))[0])
            raise RuntimeError(f"evaluation labels are out of order: row {row} ({refs.names[row]})")
        xy = predictions[..., :2].astype(np.float64)
        found = np.asarray(np.isfinite(xy).all(-1))
        captions = [""] * len(xy)  # a heatmap model writes none
        self.latest = {"captions": captions, "xy": xy, "found": found}
        if self.output_dir is not None:
            self.write_predictions(captions, xy, found)
        return self.score_joints(xy)


def heatmap_set_up(
    family: ModelFamily,
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: PoseTrainingArguments,
    resolve_dataset: Callable[..., str],  # the session's DatasetResolver
    work_dir: Path,
) -> tuple[str, VitPoseForPoseEstimation, Any, HeatmapInputs, HeatmapMetrics]:
    """:func:`~blip_pose.training.session.set_up` for a heatmap model: data first (a preset is built for the
    dataset's keypoint set), then the model, checked to predict that set's K heatmaps. Returns the checkpoint
    folder, model, image processor, inputs and ``compute_metrics`` of the session's ``RunSetUp``."""
    if data_args.train_eval_samples is not None:
        raise ConfigError("--train_eval_samples scores captions of a training subset; a heatmap model has none")
    with first_per_storage(training_args, "dataset"):
        args = (data_args.dataset_name, data_args.dataset_config_name, work_dir, data_args.synthetic_size)
        source = resolve_dataset(*args, data_args.synthetic_seed)
        dataset = load_pose_dataset(source, data_args.dataset_config_name, model_args.cache_dir)
    columns = (data_args.caption_column, data_args.image_column)
    train = check_split(dataset, data_args.train_split, *columns, data_args.max_train_samples, "max_train_samples")
    evals = check_split(dataset, data_args.eval_split, *columns, data_args.max_eval_samples, "max_eval_samples")
    if data_args.validate_images:
        check_images(train, data_args.train_split, data_args.image_column)
        check_images(evals, data_args.eval_split, data_args.image_column)
    spec = dataset_keypoints(train, source)
    record = RunRecord(
        preprocessing_record(train, source, data_args.image_column, spec),
        run_config(model_args, data_args, training_args, resolved_dataset(source, data_args.dataset_config_name)),
        spec,
    )
    recorded = dataset_source(train, source)
    record.config["data"][DATASET_SOURCE_KEY] = recorded
    train_refs = references(train, *columns, split=data_args.train_split, spec=spec)
    table = reports_pckh_table(recorded)
    refs = references(evals, *columns, split=data_args.eval_split, spec=spec, pckh_table=table)

    name = model_args.model_name_or_path
    if not isinstance(family, HeatmapFamily):
        raise CheckpointError(f"--model_name_or_path {name}: {family.name} is no heatmap model")
    preset = preset_name(name)
    if preset is not None:
        with first_per_storage(training_args, "model preset"):
            checkpoint = RunFolder(work_dir).preset(preset)
            if not checkpoint.is_dir():  # saved aside and renamed into place, as a captioner's preset
                staging = checkpoint.with_name(f"{checkpoint.name}.tmp")
                shutil.rmtree(staging, ignore_errors=True)
                for part in family.build_preset(spec, model_args.preset_seed):
                    part.save_pretrained(staging)
                staging.rename(checkpoint)
        folder = str(checkpoint)
    else:
        try:
            folder = local_or_hub(resolve_pretrained(name), "--model_name_or_path")
        except (FileNotFoundError, ValueError) as err:
            raise CheckpointError(str(err)) from None
    model, processor = family.load(folder, cache_dir=model_args.cache_dir)
    if model.config.num_labels != spec.num_keypoints:
        raise DataError(
            f"--model_name_or_path {name}: {model.config.num_labels} heatmaps, but dataset {source!r} has "
            f"{spec.num_keypoints} {spec.name} keypoints"
        )
    with first_per_storage(training_args, "metric"):
        metric = load_pose_metric()
    output_dir = Path(str(training_args.output_dir)) if training_args.process_index == 0 else None
    compute_metrics = HeatmapMetrics(None, refs, data_args.caption_column, metric, output_dir)  # type: ignore[arg-type]
    return folder, model, processor, HeatmapInputs(train, evals, refs, record, 0, train_refs), compute_metrics
