"""Pose metrics in plain vectorised numpy: the math behind ``metrics/pose_threshold_accuracy``.

The evaluate module, the trainer's ``compute_metrics`` and the benchmarks all call :func:`pose_scores`, so every
number the project reports comes from one place. Plain numpy, no ``evaluate`` import: the math can be used (and
tested) without the evaluate module around it.

Conventions (shapes: N samples, J joints (the keypoint set's K), T thresholds):

- coordinates are pixels in one frame per sample, float (N, J, 2); a joint not found is NaN in both x and y
  (what :func:`blip_pose.pose_format.parse_coords_batch` returns) and False in its found mask (N, J);
- a joint is *evaluated* when the reference has it (and, if reference visibility is given, it is visible);
- a predicted joint that is missing but evaluated is wrong at every threshold and left out of the errors;
- a coordinate at or beyond :data:`~blip_pose.pose_format.MAX_COORDINATE` pixels (the caption parsers' bound) is
  not a position: in a prediction the joint counts as missing, in a reference it is an error. So every score is
  finite and no distance overflows, whatever numbers come in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.pose_format import MAX_COORDINATE
from blip_pose.pose_metric_inputs import (
    check_array_argument,
    check_samples,
    parse_captions,
    points_from_arrays,
    visibility_array,
)

__all__ = [
    "CRITERIA",
    "DEFAULT_PCK_THRESHOLDS",
    "DEFAULT_THRESHOLDS",
    "HEAD_SIZE_FACTOR",
    "PCKH_THRESHOLD",
    "PCK_PERSON_THRESHOLD",
    "beyond_bound",
    "check_array_argument",
    "check_samples",
    "head_sizes_from_boxes",
    "joint_errors",
    "parse_captions",
    "pck",
    "points_from_arrays",
    "pose_scores",
    "sample_accuracy",
    "threshold_key",
    "visibility_array",
]

#: Pixel thresholds of the published accuracy (a sample is correct when its error is within T px).
DEFAULT_THRESHOLDS: tuple[float, ...] = (25.0, 5.0, 1.0)
#: Pixel thresholds of the per-joint PCK.
DEFAULT_PCK_THRESHOLDS: tuple[float, ...] = (5.0,)
CRITERIA = ("mean", "all")
#: MPII: a joint is correct when within 0.5 head sizes; head size = 0.6 x head-box diagonal.
PCKH_THRESHOLD = 0.5
HEAD_SIZE_FACTOR = 0.6
#: Sets normalised by the person box (COCO-style PCK): correct within 0.2 x the box's larger side.
PCK_PERSON_THRESHOLD = 0.2


def threshold_key(threshold: float) -> str:
    """Key text for a threshold as given: 25 and 25.0 -> ``"25"``, 2.5 -> ``"2.5"``."""
    text = repr(float(threshold))
    return text[:-2] if text.endswith(".0") else text


def joint_errors(pred_xy: np.ndarray, ref_xy: np.ndarray) -> np.ndarray:
    """Euclidean error per joint.

    Args:
        pred_xy, ref_xy: float (N, J, 2).
    Returns:
        float (N, J); NaN where either side is NaN (joint not found).
    """
    diff = pred_xy - ref_xy
    return np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)


def sample_accuracy(
    errors: np.ndarray,
    found: np.ndarray,
    evaluated: np.ndarray,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    criterion: str = "mean",
) -> np.ndarray:
    """Share of samples counted correct at each threshold.

    ``"mean"``: the mean error over the sample's evaluated joints is <= T. ``"all"``: every evaluated joint is
    within T. Either way a sample missing an evaluated joint is wrong; samples with no evaluated joint are skipped.

    Args:
        errors: float (N, J) from :func:`joint_errors`.
        found: bool (N, J), the prediction has the joint.
        evaluated: bool (N, J), the joint is scored.
        thresholds: T pixel thresholds.
        criterion: ``"mean"`` or ``"all"``.
    Returns:
        float (T,); NaN when no sample has an evaluated joint.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    # Missing joints become +inf so that both the mean and the max put the sample above every threshold.
    scored_err = np.where(evaluated, np.where(found, errors, np.inf), 0.0)
    counts = evaluated.sum(axis=1)
    scored = counts > 0
    if not scored.any():
        return np.full(len(thresholds), np.nan)
    if criterion == "mean":
        per_sample = scored_err[scored].sum(axis=1) / counts[scored]
    else:
        per_sample = scored_err[scored].max(axis=1)
    thr = np.asarray(thresholds, dtype=np.float64)
    return (per_sample[None, :] <= thr[:, None]).mean(axis=1)


def pck(
    errors: np.ndarray,
    found: np.ndarray,
    evaluated: np.ndarray,
    thresholds: Sequence[float],
    norm: np.ndarray | None = None,
    mean_joints: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentage of correct keypoints (as a share in [0, 1]): error (/ norm) <= T, missing joints wrong.

    Args:
        errors, found, evaluated: (N, J) as in :func:`sample_accuracy`.
        thresholds: T thresholds, in pixels, or in units of ``norm`` when given.
        norm: float (N,) per-sample scale (e.g. head sizes for PCKh), or None for pixels.
        mean_joints: bool (J,), joints pooled into the overall share (all by default).
    Returns:
        per_joint float (T, J) and overall float (T,); NaN where nothing is evaluated.
    """
    scaled = errors if norm is None else errors / norm[:, None]
    ok = found & evaluated
    thr = np.asarray(thresholds, dtype=np.float64)
    hits = ok[None] & (scaled[None] <= thr[:, None, None])  # (T, N, J); NaN compares False
    hit_counts = hits.sum(axis=1)
    counts = evaluated.sum(axis=0)
    keep = np.ones(errors.shape[1], dtype=bool) if mean_joints is None else mean_joints
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = hit_counts / counts
        total = counts[keep].sum()
        overall = hit_counts[:, keep].sum(axis=1) / total if total else np.full(len(thr), np.nan)
    return per_joint, overall


def head_sizes_from_boxes(head_boxes: np.ndarray) -> np.ndarray:
    """MPII head size: 0.6 x the diagonal of the head box.

    Args:
        head_boxes: float (N, 4) as x1, y1, x2, y2 in the coordinates' frame.
    Returns:
        float (N,).
    """
    with np.errstate(over="ignore"):  # an overflowing box gives inf, which _head_sizes refuses by name
        return HEAD_SIZE_FACTOR * np.hypot(head_boxes[:, 2] - head_boxes[:, 0], head_boxes[:, 3] - head_boxes[:, 1])


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _check_finite_where(xy: np.ndarray, found: np.ndarray, what: str) -> None:
    bad = found & ~np.isfinite(xy).all(axis=-1)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{what}[{i}] joint {j} is marked found but its coordinates are {xy[i, j].tolist()}")


def beyond_bound(xy: np.ndarray) -> np.ndarray:
    """bool (..., J): joints with a coordinate at or beyond :data:`MAX_COORDINATE` (not a position; NaN is not)."""
    with np.errstate(invalid="ignore"):
        return (np.abs(xy) >= MAX_COORDINATE).any(axis=-1)


def _check_bounded(xy: np.ndarray, found: np.ndarray, what: str) -> None:
    bad = found & beyond_bound(xy)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{what}[{i}] joint {j} is {xy[i, j].tolist()}; coordinates must lie within +-{MAX_COORDINATE:.0e} px"
        )


def _check_thresholds(values: Sequence[float], what: str) -> tuple[float, ...]:
    check_array_argument(values, what)
    try:
        thr = tuple(float(t) for t in values)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers, got {list(values)}") from None
    if not thr:
        raise ValueError(f"{what} is empty")
    if not all(np.isfinite(t) and t > 0 for t in thr):
        raise ValueError(f"{what} must be finite and positive, got {list(values)}")
    if len({threshold_key(t) for t in thr}) != len(thr):
        raise ValueError(f"{what} repeat a value: {list(values)}")
    return thr


def _head_sizes(head_boxes: np.ndarray | None, head_sizes: np.ndarray | None, n: int) -> np.ndarray | None:
    if head_boxes is not None and head_sizes is not None:
        raise ValueError("give head_boxes or head_sizes, not both")
    if head_boxes is not None:
        boxes = np.asarray(head_boxes, dtype=np.float64)
        if boxes.shape != (n, 4):
            raise ValueError(f"head_boxes must have shape ({n}, 4) as x1, y1, x2, y2, got {boxes.shape}")
        sizes, what = head_sizes_from_boxes(boxes), "head_boxes"
    elif head_sizes is not None:
        sizes, what = np.asarray(head_sizes, dtype=np.float64), "head_sizes"
        if sizes.shape != (n,):
            raise ValueError(f"head_sizes must have shape ({n},), got {sizes.shape}")
    else:
        return None
    bad = ~(np.isfinite(sizes) & (sizes > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}[{i}] gives head size {sizes[i]}; head sizes must be finite and positive")
    return sizes


def _person_sizes(person_boxes: np.ndarray, n: int) -> np.ndarray:
    """Person-box scale of a ``"person"`` keypoint set: the larger side of each (N, 4) x1, y1, x2, y2 box."""
    boxes = np.asarray(person_boxes, dtype=np.float64)
    if boxes.shape != (n, 4):
        raise ValueError(f"person_boxes must have shape ({n}, 4) as x1, y1, x2, y2, got {boxes.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    bad = ~(np.isfinite(sizes) & (sizes > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"person_boxes[{i}] gives size {sizes[i]}; boxes need a finite, positive width or height")
    return sizes


def _normalizer(
    spec: KeypointSpec, n: int, head_boxes: np.ndarray | None, head_sizes: np.ndarray | None, person_boxes
) -> tuple[str, float, np.ndarray] | None:
    """``(key prefix, threshold, sizes (N,))`` of the spec's normalised PCK, or None when no scale was given."""
    if spec.normalizer == "head":
        if person_boxes is not None:
            raise ValueError(f"keypoint set {spec.name!r} normalises PCK by head size; give head_boxes or head_sizes")
        sizes = _head_sizes(head_boxes, head_sizes, n)
        return None if sizes is None else ("pckh", PCKH_THRESHOLD, sizes)
    if head_boxes is not None or head_sizes is not None:
        raise ValueError(f"keypoint set {spec.name!r} normalises PCK by the person box; give person_boxes")
    return None if person_boxes is None else ("pck_person", PCK_PERSON_THRESHOLD, _person_sizes(person_boxes, n))


def pose_scores(
    pred_xy: np.ndarray,
    pred_found: np.ndarray,
    ref_xy: np.ndarray,
    ref_found: np.ndarray,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    criterion: str = "mean",
    pck_thresholds: Sequence[float] = DEFAULT_PCK_THRESHOLDS,
    ref_visible: np.ndarray | None = None,
    head_boxes: np.ndarray | None = None,
    head_sizes: np.ndarray | None = None,
    person_boxes: np.ndarray | None = None,
    spec: KeypointSpec = DEFAULT_SPEC,
) -> dict[str, float]:
    """Every output of the metric, as plain floats (keys documented in the metric card).

    Args:
        pred_xy, ref_xy: float (N, J, 2) pixels; NaN allowed only where not found; predictions beyond
            :data:`MAX_COORDINATE` count as not found, references beyond it are refused.
        pred_found, ref_found: bool (N, J).
        thresholds: pixel thresholds of ``accuracy@T``; ``criterion``: ``"mean"`` or ``"all"``.
        pck_thresholds: pixel thresholds of ``pck@T``.
        ref_visible: (N, J) 0/1; when given only visible reference joints are evaluated.
        head_boxes: float (N, 4) x1, y1, x2, y2, or head_sizes: float (N,); either adds ``pckh@0.5`` (a ``"head"``
            keypoint set such as MPII-16).
        person_boxes: float (N, 4) x1, y1, x2, y2; adds ``pck_person@0.2``, errors within 0.2 x the box's larger
            side (a ``"person"`` keypoint set).
        spec: the keypoint set (J == K): its caption tokens name the per-joint keys, its ``mean_mask`` picks the
            joints of the normalised PCK's mean, its ``normalizer`` which boxes it takes.
    Raises:
        ValueError: on bad shapes, non-finite found coordinates or unbounded references, a reference with no joint,
            bad thresholds.
    """
    pred_xy, ref_xy = np.asarray(pred_xy, dtype=np.float64), np.asarray(ref_xy, dtype=np.float64)
    pred_found, ref_found = np.asarray(pred_found, dtype=bool), np.asarray(ref_found, dtype=bool)
    if ref_xy.ndim != 3 or ref_xy.shape[2] != 2:
        raise ValueError(f"references must have shape (N, J, 2), got {ref_xy.shape}")
    n, j = ref_xy.shape[:2]
    if n == 0:
        raise ValueError("no samples: predictions and references are empty")
    if pred_xy.shape != ref_xy.shape:
        raise ValueError(f"predictions have shape {pred_xy.shape} but references {ref_xy.shape}")
    if pred_found.shape != (n, j) or ref_found.shape != (n, j):
        raise ValueError(f"found masks must have shape {(n, j)}, got {pred_found.shape} and {ref_found.shape}")
    joint_names = spec.captions
    if len(joint_names) != j:
        raise ValueError(f"{len(joint_names)} joint names (keypoint set {spec.name!r}) for {j} joints per sample")
    _check_finite_where(pred_xy, pred_found, "predictions")
    _check_finite_where(ref_xy, ref_found, "references")
    _check_bounded(ref_xy, ref_found, "references")
    pred_found = pred_found & ~beyond_bound(pred_xy)  # a prediction out of every image: the joint is missing
    pred_xy = np.where(pred_found[..., None], pred_xy, np.nan)
    empty = ~ref_found.any(axis=1)
    if empty.any():
        raise ValueError(f"references[{int(np.flatnonzero(empty)[0])}] has no joint; nothing to score against")
    thresholds = _check_thresholds(thresholds, "thresholds")
    pck_thresholds = _check_thresholds(pck_thresholds, "pck_thresholds")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    evaluated = ref_found
    if ref_visible is not None:
        vis = np.asarray(ref_visible)
        if vis.shape != (n, j) or not np.isin(vis, (0, 1)).all():
            raise ValueError(f"reference visibility must be 0/1 of shape {(n, j)}, got shape {vis.shape}")
        evaluated = ref_found & vis.astype(bool)
    normalizer = _normalizer(spec, n, head_boxes, head_sizes, person_boxes)

    errors = joint_errors(pred_xy, ref_xy)
    ok = pred_found & evaluated
    out: dict[str, float] = {}
    accuracy = sample_accuracy(errors, pred_found, evaluated, thresholds, criterion)
    out.update({f"accuracy@{threshold_key(t)}": float(a) for t, a in zip(thresholds, accuracy)})
    out["mae"] = _mean_or_nan(errors[ok])
    out["mae_x"] = _mean_or_nan(np.abs(pred_xy[..., 0] - ref_xy[..., 0])[ok])
    out["mae_y"] = _mean_or_nan(np.abs(pred_xy[..., 1] - ref_xy[..., 1])[ok])
    per_joint, overall = pck(errors, pred_found, evaluated, pck_thresholds)
    for t, row, total in zip(pck_thresholds, per_joint, overall):
        key = f"pck@{threshold_key(t)}"
        out[key] = float(total)
        out.update({f"{key}/{name}": float(v) for name, v in zip(joint_names, row)})
    if normalizer is not None:
        prefix, threshold, sizes = normalizer
        per_joint, overall = pck(errors, pred_found, evaluated, (threshold,), sizes, spec.mean_mask)
        key = f"{prefix}@{threshold_key(threshold)}"
        out[key] = float(overall[0])
        out.update({f"{key}/{name}": float(v) for name, v in zip(joint_names, per_joint[0])})
    scored = evaluated.any(axis=1)
    complete = (pred_found | ~evaluated).all(axis=1)
    out["parse_rate"] = _mean_or_nan(complete[scored])
    n_eval = int(evaluated.sum())
    out["missing_joint_rate"] = float((evaluated & ~pred_found).sum() / n_eval) if n_eval else float("nan")
    out["num_samples"] = float(n)
    out["num_scored_samples"] = float(scored.sum())
    return out
