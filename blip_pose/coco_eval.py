"""Scoring keypoints the field's way: COCO keypoint AP/AR (pycocotools' ``COCOeval``) and PCK by the person box.

OKS is never recomputed here: :func:`coco_keypoint_ap` writes the ground truth and predictions as COCO dicts and
runs pycocotools with the keypoint set's own sigmas (``params.kpt_oks_sigmas``), so a number from this module is
the number ``COCOeval`` prints for the same files. Predictions are top-down: one per ground-truth person, in order.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from blip_pose.keypoints import KeypointSpec, get_spec

#: ``COCOeval.stats`` in order: AP over OKS .50:.05:.95, at .50, at .75, medium and large people; AR likewise.
COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
#: Where a keypoint with no prediction (NaN) is put: far enough that its OKS term is exactly 0 (a miss).
_MISSING_XY = -1.0e6


class GroundTruthPerson(Protocol):
    """What scoring reads of a ground-truth person (``coco_pose_dataset.reader.CocoPerson`` is one)."""

    @property
    def image_id(self) -> int: ...

    @property
    def bbox(self) -> tuple[float, float, float, float]: ...

    @property
    def keypoints(self) -> np.ndarray: ...

    @property
    def area(self) -> float: ...


@dataclass(frozen=True)
class AnnotatedPerson:
    """A ground-truth person as a dataset row or a caller gives it: COCO's image id, ``bbox`` x, y, w, h, float
    (K, 3) ``keypoints`` (x, y, v; original 0-based pixels) and ``area``."""

    image_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray
    area: float


def annotated_persons(annotations: Sequence[Mapping[str, Any]], spec: KeypointSpec, what: str) -> list[AnnotatedPerson]:
    """Checked :class:`AnnotatedPerson` of mappings with ``image_id``, ``bbox``, ``keypoints`` (K x 3) and ``area``
    (default: the box's area); a bad entry is a one-line ``ValueError`` naming ``what[i]`` and the field."""
    persons = []
    for i, entry in enumerate(annotations):
        where = f"{what}[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be a mapping with image_id, bbox, keypoints, area")
        try:
            box = tuple(float(v) for v in entry["bbox"])
            points = np.asarray(entry["keypoints"], dtype=float).reshape(spec.num_keypoints, 3)
            image_id = int(entry["image_id"])
            area = float(entry.get("area", box[2] * box[3]))
        except KeyError as err:
            raise ValueError(f"{where} has no {err.args[0]!r}") from None
        except (TypeError, ValueError):
            raise ValueError(f"{where}: bbox must be 4 numbers, keypoints {spec.num_keypoints} x 3 numbers") from None
        if len(box) != 4 or not np.isin(points[:, 2], (0, 1, 2)).all() or not area >= 0:
            raise ValueError(f"{where}: bbox must be x, y, w, h, keypoint flags 0/1/2, area non-negative")
        persons.append(AnnotatedPerson(image_id, box, points, area))
    return persons


def _gt_dataset(gt: Sequence[GroundTruthPerson], spec: KeypointSpec) -> dict[str, Any]:
    annotations = []
    for i, person in enumerate(gt):
        points = np.asarray(person.keypoints, dtype=float)
        v = points[:, 2]
        xy = np.where(v[:, None] > 0, points[:, :2], 0.0)  # COCO writes unlabelled keypoints as 0, 0, 0
        flat = np.concatenate([xy, v[:, None]], axis=1).ravel()
        annotations.append(
            {
                "id": i + 1,
                "image_id": int(person.image_id),
                "category_id": 1,
                "keypoints": flat.tolist(),
                "num_keypoints": int((v > 0).sum()),
                "bbox": [float(x) for x in person.bbox],
                "area": float(person.area),
                "iscrowd": 0,
            }
        )
    images = [{"id": image_id} for image_id in sorted({int(p.image_id) for p in gt})]
    category = {"id": 1, "name": spec.name, "keypoints": list(spec.captions), "skeleton": []}
    return {"images": images, "annotations": annotations, "categories": [category]}


def prediction_results(
    pred: np.ndarray, gt: Sequence[GroundTruthPerson], scores: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """COCO results (the ``*_results.json`` list) of top-down predictions: one per ground-truth person.

    Args:
        pred: float (N, K, 2) keypoints, or (N, K, 3) with a per-keypoint score (kept, unused by OKS); NaN where a
            keypoint was not predicted (scored as a miss).
        gt: the N ground-truth persons the predictions were made for (their image ids).
        scores: float (N,) person confidences ranking the detections; None gives every person 1.0.
    """
    pred = np.asarray(pred, dtype=float)
    if pred.ndim != 3 or pred.shape[0] != len(gt) or pred.shape[2] not in (2, 3):
        raise ValueError(f"predictions must be ({len(gt)}, K, 2 or 3) for {len(gt)} persons, got {pred.shape}")
    scores = np.ones(len(gt)) if scores is None else np.asarray(scores, dtype=float)
    if scores.shape != (len(gt),) or not np.isfinite(scores).all():
        raise ValueError(f"scores must be {len(gt)} finite numbers, got shape {scores.shape}")
    xy = np.where(np.isfinite(pred[..., :2]), pred[..., :2], _MISSING_XY)
    keypoint_scores = pred[..., 2:3] if pred.shape[2] == 3 else np.ones_like(xy[..., :1])
    flat = np.concatenate([xy, np.nan_to_num(keypoint_scores)], axis=2).reshape(len(gt), -1)
    return [
        {"image_id": int(p.image_id), "category_id": 1, "keypoints": row.tolist(), "score": float(s)}
        for p, row, s in zip(gt, flat, scores)
    ]


def coco_keypoint_ap(
    pred: np.ndarray,
    gt: Sequence[GroundTruthPerson],
    spec: KeypointSpec | str = "coco17",
    scores: np.ndarray | None = None,
) -> dict[str, float]:
    """COCO keypoint AP and AR of top-down predictions, computed by pycocotools' ``COCOeval(iouType="keypoints")``.

    Args:
        pred: float (N, K, 2) or (N, K, 3), one row per ground-truth person (see :func:`prediction_results`).
        gt: N ground-truth persons: ``keypoints`` (K, 3) with v in {0, 1, 2}, ``bbox`` x, y, w, h, ``area`` (OKS's
            scale, s^2), ``image_id``.
        spec: the keypoint set (or its registered name); its ``sigmas`` are OKS's per-keypoint sigmas.
        scores: float (N,) person confidences; None ranks all predictions equally.

    Returns the ten :data:`COCO_STAT_NAMES`, each in [0, 1], or -1 where COCO has nothing to score (no medium or
    large person: COCO's medium is an area of 32^2 to 96^2 pixels, large above it).
    """
    spec = get_spec(spec) if isinstance(spec, str) else spec
    if spec.sigmas is None:
        raise ValueError(f"keypoint set {spec.name!r} has no OKS sigmas; COCO keypoint AP needs them")
    if not gt:
        raise ValueError("no ground-truth persons to score")
    shapes = {np.asarray(p.keypoints).shape for p in gt}
    if shapes != {(spec.num_keypoints, 3)}:
        raise ValueError(f"ground-truth keypoints must all be ({spec.num_keypoints}, 3) for {spec.name!r}: {shapes}")
    if np.ndim(pred) != 3 or np.shape(pred)[1] != spec.num_keypoints:
        raise ValueError(
            f"predictions must be (N, {spec.num_keypoints}, 2 or 3) for {spec.name!r}, got {np.shape(pred)}"
        )
    results = prediction_results(pred, gt, scores)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the table
        truth = COCO()
        truth.dataset = _gt_dataset(gt, spec)
        truth.createIndex()
        detections = truth.loadRes(results)
        _unmissed_extents(detections)
        evaluation = COCOeval(truth, detections, iouType="keypoints")
        evaluation.params.kpt_oks_sigmas = np.asarray(spec.sigmas, dtype=float)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: float(value) for name, value in zip(COCO_STAT_NAMES, evaluation.stats)}


def _unmissed_extents(detections: COCO) -> None:
    """A detection's box and area (COCO's size ranges for unmatched detections) from its predicted keypoints only:
    ``loadRes`` spans all keypoints, so a missing one put far away would make every such detection "large"."""
    for ann in detections.dataset["annotations"]:
        xy = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)[:, :2]
        xy = xy[(xy != _MISSING_XY).all(axis=1)]
        if len(xy):
            (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
            ann["bbox"], ann["area"] = [x0, y0, x1 - x0, y1 - y0], float((x1 - x0) * (y1 - y0))


def pck_person(
    pred: np.ndarray, ref: np.ndarray, boxes: np.ndarray, threshold: float = 0.2
) -> tuple[np.ndarray, float, int]:
    """PCK normalised by the person box, mmpose's ``PCKAccuracy(norm_item="bbox")``: an error counts as correct
    below ``threshold`` x the box's larger side (``max(w, h)``, as mmpose's ``bbox_size``).

    Args:
        pred: float (N, K, 2) (or (N, K, 3), the third column ignored); NaN where not predicted (a miss).
        ref: float (N, K, 3) ground truth with v in {0, 1, 2}; keypoints with v > 0 are scored (COCO's labelled).
        boxes: float (N, 4) person boxes x, y, w, h.
        threshold: the fraction of the box size.

    Returns (acc, avg_acc, cnt) as mmpose's ``keypoint_pck_accuracy``: acc float (K,) per keypoint (NaN where no
    person labels it; mmpose writes -1), avg_acc their mean over labelled keypoints, cnt how many keypoints that is.
    """
    pred, ref, boxes = (np.asarray(a, dtype=float) for a in (pred, ref, boxes))
    n, k = ref.shape[:2]
    if ref.shape != (n, k, 3) or pred.shape[:2] != (n, k) or pred.shape[2] < 2 or boxes.shape != (n, 4):
        raise ValueError(f"expected pred (N, K, 2), ref (N, K, 3), boxes (N, 4); got {pred.shape}, {ref.shape}, "
                         f"{boxes.shape}")  # fmt: skip
    size = boxes[:, 2:].max(axis=1)
    if not (size > 0).all():
        raise ValueError("every person box needs a positive width or height")
    labelled = ref[..., 2] > 0
    errors = np.linalg.norm(pred[..., :2] - ref[..., :2], axis=-1) / size[:, None]  # (N, K); NaN where missing
    correct = np.where(labelled, np.nan_to_num(errors, nan=np.inf) < threshold, False)
    count = labelled.sum(axis=0)
    acc = np.full(k, np.nan)
    np.divide(correct.sum(axis=0), count, out=acc, where=count > 0)
    valid = count > 0
    return acc, float(acc[valid].mean()) if valid.any() else float("nan"), int(valid.sum())
