"""compute_metrics: decode generated captions, parse them, score them with the pose metric, write predictions.

A split built from MPII's standard protocol also gets the literature's PCKh table (``pckh_table/Head`` …
``pckh_table/Mean@0.1``, :mod:`blip_pose.pckh_table`); a COCO-built one COCO's AP/AR.

Predictions arrive in evaluation-split order (the Trainer gathers them across processes and drops the padding
duplicates); the decoded labels are compared with the split's own captions so that a misaligned gather is an
error rather than a wrong score. :class:`TrainSubsetEvaluation` scores a fixed training subset beside the
validation split (``eval_train_*``), leaving the validation metrics their usual ``eval_*`` names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from datasets import Dataset
from transformers import (
    EvalPrediction,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from blip_pose import metric_path
from blip_pose.geometry import to_original_frame
from blip_pose.keypoints import DEFAULT_SPEC
from blip_pose.pckh_table import TABLE_PREFIX, pckh_table
from blip_pose.pose_metrics import parse_captions
from blip_pose.pose_parsing import DEFAULT_LOC_VOCABULARY, LocVocabulary
from blip_pose.run_folder import RunFolder
from blip_pose.training.arguments import DataArguments, first_per_storage
from blip_pose.training.data import References, references

if TYPE_CHECKING:
    import evaluate

#: Metric-key prefix of the training subset's scores (``eval_train_accuracy@25``, ``eval_train_loss``, ...).
TRAIN_SUBSET_PREFIX = "eval_train"


def load_pose_metric() -> evaluate.EvaluationModule:
    """The ``pose_threshold_accuracy`` evaluate module of this repository (a local folder: no network)."""
    import evaluate

    return evaluate.load(metric_path())


@dataclass
class PoseMetrics:
    """``compute_metrics`` for the Trainer. ``name()`` names the evaluation's predictions file."""

    tokenizer: PreTrainedTokenizerBase
    references: References
    caption_column: str  # a coordinate column of blip_pose.pose_format.CAPTION_COLUMNS
    metric: evaluate.EvaluationModule
    output_dir: Path | None  # where predictions files go; None on processes other than the main one
    name: Callable[[], str] = lambda: "eval"
    latest: dict = field(default_factory=dict)  # the last evaluation's captions and joints, for overlays
    loc: LocVocabulary = DEFAULT_LOC_VOCABULARY  # the model's loc tokens, read back in the project's spelling

    @classmethod
    def for_run(
        cls,
        tokenizer: PreTrainedTokenizerBase,
        references: References,
        caption_column: str,
        args: TrainingArguments,
        output_dir: Path | None,
        loc: LocVocabulary = DEFAULT_LOC_VOCABULARY,
    ) -> PoseMetrics:
        """The run's ``compute_metrics``, its evaluate module loaded by the main process first."""
        with first_per_storage(args, "metric"):
            metric = load_pose_metric()
        return cls(tokenizer, references, caption_column, metric, output_dir, loc=loc)

    def __getstate__(self) -> dict:
        # The evaluate module is a class imported from a generated module that a fresh process (a Ray Tune
        # worker) cannot import: it is loaded again where the object is unpickled.
        return {**self.__dict__, "metric": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.metric = load_pose_metric()

    @contextmanager
    def scoring(self, refs: References, prefix: str) -> Iterator[None]:
        """Score another split inside the block (its predictions files named ``<prefix>-<name>``)."""
        saved = self.references, self.name, self.latest
        name = self.name
        self.references, self.name = refs, lambda: f"{prefix}-{name()}"
        try:
            yield
        finally:
            self.references, self.name, self.latest = saved

    def decode(self, ids: np.ndarray) -> list[str]:
        ids = np.where(ids == -100, self.tokenizer.pad_token_id, ids)  # the Trainer pads with -100
        return [self.loc.decode(c) for c in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]

    def __call__(self, eval_pred: EvalPrediction) -> dict[str, float]:
        refs = self.references
        captions = self.decode(np.asarray(eval_pred.predictions))
        if len(captions) != len(refs.names):
            raise RuntimeError(f"evaluation returned {len(captions)} predictions for {len(refs.names)} examples")
        self._check_alignment(self.decode(np.asarray(eval_pred.label_ids)))
        scores, xy, found = self.score(captions)
        self.latest = {"captions": captions, "xy": xy, "found": found}
        if self.output_dir is not None:
            self.write_predictions(captions, xy, found)
        return scores

    def score(self, captions: list[str]) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """``(scores, xy (N, K, 2), found (N, K))`` of captions in split order: what an evaluation reports
        (keys without the ``eval_`` prefix); also the analyses' baseline, so both are one computation."""
        refs = self.references
        xy, found = parse_captions(captions, self.caption_column, refs.sizes, spec=refs.spec)  # NaN where not found
        return self.score_joints(xy), xy, found

    def score_joints(self, xy: np.ndarray) -> dict[str, float]:
        """The scores of joints (N, K, 2) in the split's processed pixels (NaN: not found), from captions or a
        heatmap model alike."""
        refs = self.references
        # accuracy@T and mae in pixels of the model's input frame, as the method reports them.
        scores = self.metric.compute(predictions=list(xy), references=list(refs.xy), **self._keypoints())
        if refs.head_boxes is not None and refs.spec.normalizer == "head":
            scores.update(self._pckh(xy))
            if refs.pckh_table:
                scores.update(self._pckh_table(xy))
        if refs.coco is not None and refs.spec.normalizer == "person" and refs.spec.sigmas is not None:
            scores.update(self._coco(xy))
        return {key: float(value) for key, value in scores.items() if np.ndim(value) == 0}

    def _pckh(self, xy: np.ndarray) -> dict[str, float]:
        """PCKh@0.5 in ORIGINAL pixels when the split records its crop boxes: the resize configs stretch x and y
        apart, so a head-size radius measured in the processed frame is an ellipse in the person's own frame."""
        pred, ref, heads = self._original_frame(xy)
        scores = self.metric.compute(
            predictions=list(pred), references=list(ref), head_boxes=list(heads), **self._keypoints()
        )
        return {key: value for key, value in scores.items() if key.startswith("pckh")}

    def _original_frame(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictions, references (N, K, 2) and head boxes (N, 4) in original pixels when the split records its
        crop boxes, else in the processed frame."""
        refs = self.references
        pred, ref, heads = xy, refs.xy, refs.head_boxes
        assert heads is not None  # called only when the split has head boxes
        if refs.crop_boxes is not None:
            pred, ref = (to_original_frame(p, refs.crop_boxes, refs.sizes) for p in (xy, refs.xy))
            heads = to_original_frame(heads.reshape(-1, 2, 2), refs.crop_boxes, refs.sizes).reshape(-1, 4)
        return pred, ref, heads

    def _pckh_table(self, xy: np.ndarray) -> dict[str, float]:
        """The literature's MPII table (``pckh_table/Head`` ... ``pckh_table/Mean@0.1``, as fractions like every
        score here) by mmpose's rule, over the split's labelled joints, in original pixels."""
        pred, ref, heads = self._original_frame(xy)
        table = pckh_table(pred, ref, self.references.found, head_boxes=heads)
        return {f"{TABLE_PREFIX}/{column}": value / 100.0 for column, value in table.items()}

    def _coco(self, xy: np.ndarray) -> dict[str, float]:
        """COCO keypoint AP/AR in the original image's pixels (the metric maps predictions back through each crop
        box) and PCK by the person box (the square crop scales both axes alike, so in the crop's frame)."""
        refs = self.references
        assert refs.coco is not None and refs.crop_boxes is not None  # called only for COCO-built splits
        boxes = np.asarray([entry["bbox"] for entry in refs.coco], dtype=np.float64)
        corners = np.stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)  # (N, 2, 2) original pixels
        per_pixel = refs.sizes / (refs.crop_boxes[:, 2:] - refs.crop_boxes[:, :2])  # processed px per original px
        in_crop = (corners - refs.crop_boxes[:, None, :2]) * per_pixel[:, None, :]
        scores = self.metric.compute(
            predictions=list(xy),
            references=list(refs.xy),
            image_sizes=refs.sizes.tolist(),
            person_boxes=list(in_crop.reshape(-1, 4)),
            coco_annotations=refs.coco,
            crop_boxes=refs.crop_boxes.tolist(),
            **self._keypoints(),
        )
        return {k: v for k, v in scores.items() if k.startswith(("coco_", "pck_person"))}

    def _keypoints(self) -> dict[str, dict]:
        """The metric's ``keypoints`` argument: none for MPII-16 (its default), else the set as a mapping."""
        spec = self.references.spec
        return {} if spec == DEFAULT_SPEC else {"keypoints": spec.to_dict()}

    def _check_alignment(self, decoded_labels: list[str]) -> None:
        refs = self.references
        xy, found = parse_captions(decoded_labels, self.caption_column, refs.sizes, what="labels", spec=refs.spec)
        same = (found == refs.found) & np.where(found, np.abs(xy - refs.xy).max(-1) < 1e-6, True)
        if not same.all():
            row = int(np.flatnonzero(~same.all(axis=1))[0])
            raise RuntimeError(
                f"evaluation labels are out of order: row {row} ({refs.names[row]}) was scored against "
                f"{decoded_labels[row]!r}, expected {refs.captions[row]!r}"
            )

    def write_predictions(self, captions: list[str], xy: np.ndarray, found: np.ndarray) -> Path:
        """``predictions/<name>.jsonl``: one line per image with the caption and joints (null: not found)."""
        assert self.output_dir is not None, "only the main process writes predictions"
        path = RunFolder(self.output_dir).predictions / f"{self.name()}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            rows = zip(self.references.names, captions, self.references.captions, xy, found)
            for name, caption, reference, points, mask in rows:
                joints = [[round(float(x), 2), round(float(y), 2)] if ok else None for (x, y), ok in zip(points, mask)]
                record = {"image_name": name, "caption": caption, "reference": reference, "joints": joints}
                out.write(json.dumps(record) + "\n")
        return path


class TrainSubsetEvaluation(TrainerCallback):
    """After each evaluation of the validation split, scores a fixed training subset as ``eval_train_*``.

    The method's simple task (Figure 3) shows training accuracy climbing while validation stays flat; the Trainer
    only evaluates its ``eval_dataset``, so this runs a second ``evaluate`` on the subset with its own references.
    """

    def __init__(self, trainer: Trainer, subset: Dataset, refs: References) -> None:
        if not isinstance(trainer.compute_metrics, PoseMetrics):
            raise TypeError("TrainSubsetEvaluation needs the trainer's compute_metrics to be a PoseMetrics")
        self.trainer, self.metrics = trainer, trainer.compute_metrics
        self.subset, self.references = subset, refs
        self._running = False

    @classmethod
    def from_args(
        cls, trainer: Trainer, train_split: Dataset, data_args: DataArguments
    ) -> TrainSubsetEvaluation | None:
        n = data_args.train_eval_samples  # a positive number (session.check_arguments) or None
        if n is None:
            return None
        from blip_pose.training.pixel_cache import model_inputs

        columns = (data_args.caption_column, data_args.image_column)
        subset = train_split.select(range(min(n, len(train_split))))
        image_processor = trainer.processing_class.image_processor  # type: ignore[union-attr]
        inputs = model_inputs(subset, *columns, image_processor, data_args.pixel_cache)
        metrics = trainer.compute_metrics
        spec = metrics.references.spec if isinstance(metrics, PoseMetrics) else DEFAULT_SPEC
        return cls(trainer, inputs, references(subset, *columns, spec=spec))

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> TrainerControl:
        if not self._running:  # the subset's own evaluate() calls back here
            # With persistent workers the Trainer caches one evaluation dataloader for every dataset passed to
            # evaluate() (key "eval"), so the subset would reuse the validation loader (or leave its own in the
            # cache for the next validation): the subset's is built fresh and never cached.
            persistent = self.trainer.args.dataloader_persistent_workers
            self._running, self.trainer.args.dataloader_persistent_workers = True, False
            try:
                with self.metrics.scoring(self.references, "train"):
                    self.trainer.evaluate(self.subset, metric_key_prefix=TRAIN_SUBSET_PREFIX)
            finally:
                self._running, self.trainer.args.dataloader_persistent_workers = False, persistent
        return control
