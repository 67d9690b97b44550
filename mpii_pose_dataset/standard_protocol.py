"""MPII's standard single-person protocol: the mmpose/HRNet annotation files and the person crops they define.

The files (HRNet's ``data/mpii/annot/``, mmpose's ``data/mpii/annotations/``): ``mpii_train.json`` and
``mpii_val.json``, a JSON list of ``{"image": "xxx.jpg", "center": [x, y], "scale": s, "joints": [[x, y]] * 16,
"joints_vis": [0/1] * 16}``, one person each, MPII's joint ids. ``joints_vis`` marks *labelled* joints (the
complement of ``jnt_missing`` in ``mpii_gt_val.mat``), not MPII's occlusion flag. Head boxes, which PCKh needs, are
only in ``mpii_gt_val.mat`` (``headboxes_src``), read by :func:`read_head_boxes`. The dataset built from them is
:mod:`mpii_pose_dataset.standard_builder` (``python -m mpii_pose_dataset build-standard``).

Decisions:

* Coordinates: the files keep MATLAB's 1-based pixels. This module subtracts
  :data:`blip_pose.geometry.MATLAB_ORIGIN` from the joints *and* the centre, as HRNet's loader does, so every value
  it returns is 0-based like the rest of the project (:mod:`mpii_pose_dataset.reader`). mmpose 1.x's
  ``MpiiDataset`` subtracts 1 from the centre only and keeps the joints 1-based (and ``MpiiPCKAccuracy`` adds 1 to
  its 0-based predictions), so, as we read it, its targets sit one pixel right of and below what they label.
* Crop: both loaders move the centre down by :data:`CENTER_SHIFT` x scale px ("to avoid cropping limbs", before the
  1-based shift) and pad the square person box of side scale x :data:`~blip_pose.keypoints.mpii.MPII_SCALE_PX` by
  1.25. :func:`person_box` returns that square *unpadded*, as COCO x, y, w, h: transformers'
  ``VitPoseImageProcessor`` (``box_to_center_and_scale``) pads it by 1.25 and widens it to the input's 3:4, exactly
  mmpose's ``GetBBoxCenterScale(padding=1.25)`` + ``TopdownAffine``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from blip_pose.geometry import MATLAB_ORIGIN
from blip_pose.images import open_image, safe_join
from blip_pose.keypoints.mpii import MPII16, MPII_SCALE_PX

#: The crop's centre moves down by this many pixels per unit of scale (HRNet, mmpose).
CENTER_SHIFT = 15.0


@dataclass(frozen=True)
class StandardPerson:
    """One entry of an ``mpii_*.json`` file, in 0-based pixels."""

    image: str
    center: np.ndarray  # float (2,): the file's centre, 0-based, not shifted
    scale: float  # person height / 200 px
    joints: np.ndarray  # float (16, 2)
    labelled: np.ndarray  # bool (16,)


def _entry(item: Any, where: str) -> StandardPerson:
    k = MPII16.num_keypoints
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object, got {type(item).__name__}")
    missing = [key for key in ("image", "center", "scale", "joints", "joints_vis") if key not in item]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(item["image"], str) or not item["image"]:
        raise ValueError(f"{where}: image must be a file name, got {item['image']!r}")
    try:
        center = np.asarray(item["center"], dtype=np.float64)
        scale = float(item["scale"])
        joints = np.asarray(item["joints"], dtype=np.float64)
        vis = np.asarray(item["joints_vis"], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: a non-numeric value ({err})") from None
    if center.shape != (2,) or not np.isfinite(center).all():
        raise ValueError(f"{where}: center must be two finite numbers, got {item['center']!r}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"{where}: scale must be a positive number, got {item['scale']!r}")
    if joints.shape != (k, 2) or vis.shape != (k,):
        raise ValueError(f"{where}: joints must be {k} [x, y] pairs and joints_vis {k} flags")
    if not np.isin(vis, (0, 1)).all():
        raise ValueError(f"{where}: joints_vis must be 0 or 1, got {item['joints_vis']!r}")
    labelled = vis > 0
    if not np.isfinite(joints[labelled]).all():
        raise ValueError(f"{where}: a labelled joint is not finite")
    return StandardPerson(item["image"], center - MATLAB_ORIGIN, scale, joints - MATLAB_ORIGIN, labelled)


def read_standard_annotations(path: str | Path) -> list[StandardPerson]:
    """The persons of an ``mpii_train.json`` / ``mpii_val.json`` file; a malformed entry raises naming its index."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of persons, got {type(data).__name__}")
    return [_entry(item, f"{path}: entry {i}") for i, item in enumerate(data)]


def crop_center(person: StandardPerson) -> np.ndarray:
    """float (2,): the crop's centre, 0-based: the file's centre moved down by ``CENTER_SHIFT * scale``."""
    return person.center + np.array([0.0, CENTER_SHIFT * person.scale])


def person_box(person: StandardPerson) -> np.ndarray:
    """float (4,): the unpadded square person box as COCO x, y, w, h (the image processor pads it by 1.25)."""
    side = person.scale * MPII_SCALE_PX
    cx, cy = crop_center(person)
    return np.array([cx - side / 2, cy - side / 2, side, side])


def read_head_boxes(path: str | Path) -> np.ndarray:
    """float (N, 4) x1, y1, x2, y2 (0-based) from ``mpii_gt_val.mat``'s ``headboxes_src`` (2 corners x 2 x N), one per
    person of ``mpii_val.json`` in order."""
    try:
        boxes = scipy.io.loadmat(str(path))["headboxes_src"]
    except KeyError:
        raise ValueError(f"{path}: no headboxes_src") from None
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 3 or boxes.shape[:2] != (2, 2):
        raise ValueError(f"{path}: headboxes_src must be 2 x 2 x N, got {boxes.shape}")
    return boxes.transpose(2, 0, 1).reshape(-1, 4) - MATLAB_ORIGIN


def heatmap_examples(persons: list[StandardPerson], images_dir: str | Path) -> Iterator[dict[str, Any]]:
    """The persons as examples of :class:`blip_pose.heatmap.trainer.HeatmapCollator` (image, box, keypoints in
    0-based original pixels with NaN where unlabelled, visibility)."""
    for person in persons:
        image, _ = open_image(safe_join(images_dir, person.image), name=person.image, exif="refuse")
        keypoints = np.where(person.labelled[:, None], person.joints, np.nan)
        yield {"image": image, "box": person_box(person), "keypoints": keypoints, "visibility": person.labelled}
