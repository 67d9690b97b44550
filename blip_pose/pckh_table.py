"""The literature's MPII PCKh table (Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Mean, Mean@0.1), as mmpose's
``MpiiPCKAccuracy`` reports it, vectorised.

Per joint, PCKh is the percentage of labelled joints whose error, divided by the person's head size
(:data:`~blip_pose.pose_metrics.HEAD_SIZE_FACTOR` x the head box's diagonal, MPII's ``SC_BIAS`` on
``headboxes_src``), is below the threshold. A part is the mean of its left and right joint's PCKh (NaN when either
has no labelled instance). Mean is the mean over joints without pelvis and thorax (the keypoint set's
``mean_excluded``) weighted by each joint's labelled count, which is the pooled rate: correct labelled joints /
labelled joints. Mean@0.1 is the same at threshold 0.1.

Two conventions (``convention=``) that differ only on ties and on Mean@0.1:

* ``"mmpose"`` (mmpose 1.x ``MpiiPCKAccuracy``): correct when ``dist / head_size < threshold``; Mean@0.1 at 0.1.
* ``"hrnet"`` (HRNet's and mmpose 0.x's ``evaluate``, the published tables): correct when ``<=``, and the column
  printed as PCKh@0.1 is read at threshold 0.11 (``pckAll[11]`` of ``arange(0, 0.51, 0.01)``).

Predictions and references must be in the same frame (both 0-based here; mmpose adds 1 to 0-based predictions to
compare with MATLAB's 1-based references, the same distances).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_metrics import PCKH_THRESHOLD, head_sizes_from_boxes

#: The table's columns: each part and its joints (caption tokens of MPII-16), in the literature's order.
PCKH_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Head", ("head",)),
    ("Shoulder", ("rsho", "lsho")),
    ("Elbow", ("relb", "lelb")),
    ("Wrist", ("rwri", "lwri")),
    ("Hip", ("rhip", "lhip")),
    ("Knee", ("rknee", "lknee")),
    ("Ankle", ("rankl", "lankl")),
)
#: The table's columns in order, and the prefix of their keys in a run's metrics (``eval_pckh_table/Head``).
TABLE_COLUMNS: tuple[str, ...] = (*(part for part, _ in PCKH_PARTS), "Mean", "Mean@0.1")
TABLE_PREFIX = "pckh_table"
#: Threshold of the table's last column, per convention.
MEAN_AT_01 = {"mmpose": 0.1, "hrnet": 0.11}
Convention = Literal["mmpose", "hrnet"]


def correct_counts(
    normalized: np.ndarray, labelled: np.ndarray, threshold: float, convention: Convention = "mmpose"
) -> np.ndarray:
    """int (K,): per joint, how many labelled joints are within ``threshold`` head sizes.

    Args:
        normalized: float (N, K) errors in head sizes.
        labelled: bool (N, K).
    """
    within = normalized <= threshold if convention == "hrnet" else normalized < threshold
    return (within & labelled).sum(axis=0)


def pckh_table(
    pred: np.ndarray,
    gt: np.ndarray,
    labelled: np.ndarray,
    head_boxes: np.ndarray | None = None,
    head_sizes: np.ndarray | None = None,
    threshold: float = PCKH_THRESHOLD,
    convention: Convention = "mmpose",
) -> dict[str, float]:
    """The PCKh table in percent, MPII-16 ids.

    Args:
        pred, gt: float (N, 16, 2) in the same pixels.
        labelled: (N, 16), true (or 1) where the reference joint is annotated (``joints_vis``, 1 - ``jnt_missing``).
        head_boxes: float (N, 4) x1, y1, x2, y2 (``headboxes_src``), or ``head_sizes`` float (N,) directly.
        threshold: of the part columns and Mean.
        convention: ``"mmpose"`` or ``"hrnet"`` (module docstring).
    Returns:
        ``{"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "Mean@0.1"}``.
    """
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    labelled = np.asarray(labelled) > 0
    k = MPII16.num_keypoints
    if pred.shape != gt.shape or gt.shape[1:] != (k, 2) or labelled.shape != gt.shape[:2]:
        raise ValueError(f"pckh_table: pred {pred.shape}, gt {gt.shape} must be (N, {k}, 2), labelled (N, {k})")
    if convention not in MEAN_AT_01:
        raise ValueError(f"pckh_table: convention must be one of {sorted(MEAN_AT_01)}, got {convention!r}")
    if (head_boxes is None) == (head_sizes is None):
        raise ValueError("pckh_table: give exactly one of head_boxes and head_sizes")
    if head_sizes is None:
        head_sizes = head_sizes_from_boxes(np.asarray(head_boxes, dtype=np.float64).reshape(-1, 4))
    sizes = np.asarray(head_sizes, dtype=np.float64).reshape(-1)
    if sizes.shape != (len(gt),):
        raise ValueError(f"pckh_table: {sizes.shape[0]} head sizes for {len(gt)} persons")
    bad = labelled.any(axis=1) & ~(np.isfinite(sizes) & (sizes > 0))
    if bad.any():
        raise ValueError(f"pckh_table: person {int(np.argmax(bad))} has labelled joints but head size {sizes[bad][0]}")
    if not np.isfinite(gt[labelled]).all():
        raise ValueError("pckh_table: a labelled reference joint is not finite")
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.linalg.norm(pred - gt, axis=-1) / sizes[:, None]
    normalized = np.where(np.isnan(normalized), np.inf, normalized)  # a missing prediction is wrong

    counts = labelled.sum(axis=0)
    mean_mask = MPII16.mean_mask

    def percent(correct: np.ndarray, total: np.ndarray) -> float:
        return 100.0 * float(correct.sum()) / float(total.sum()) if total.sum() else float("nan")

    correct = correct_counts(normalized, labelled, threshold, convention)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(counts > 0, 100.0 * correct / counts, np.nan)
    table = {part: float(np.mean(per_joint[MPII16.ids(joints)])) for part, joints in PCKH_PARTS}
    table["Mean"] = percent(correct[mean_mask], counts[mean_mask])
    at_01 = correct_counts(normalized, labelled, MEAN_AT_01[convention], convention)
    table["Mean@0.1"] = percent(at_01[mean_mask], counts[mean_mask])
    return table
