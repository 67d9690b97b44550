"""Reading a COCO-keypoints JSON (``person_keypoints_*.json`` or your own set in its format) into typed records.

COCO's conventions, kept: coordinates are 0-based float pixels; a keypoint is ``x, y, v`` with ``v=0`` unlabelled
(no coordinate; COCO writes ``0, 0, 0``, read here as NaN), ``v=1`` labelled but occluded, ``v=2`` visible; ``bbox``
is ``x, y, w, h``. What this reader decides:

- a malformed file is a one-line ``ValueError`` naming the file and field: no ``images``/``annotations``/
  ``categories`` lists, no category with keypoints, a keypoint array that is not ``3 x K`` numbers, a ``v`` outside
  {0, 1, 2}, a ``num_keypoints`` that disagrees with the array, a skeleton id out of range, a duplicate image id,
  an annotation of an image id the file does not list (the file contradicts itself: nothing to guess);
- persons it cannot use are counted skips (:attr:`CocoKeypoints.skipped`, by reason): ``crowd`` (``iscrowd``:
  one box around many people), ``no_keypoints``, ``missing_image`` (the file is not in ``images_dir``),
  ``empty_box`` and ``outside_image`` (the box or a labelled keypoint more than :data:`EDGE_TOLERANCE_PX` outside
  the image: a crop of it would not hold the keypoints its caption names);
- several categories with keypoints need ``category`` (a name or id); the error lists them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blip_pose.keypoints import KeypointSpec
from blip_pose.keypoints.coco import spec_from_coco_category

#: How far (pixels) a box or labelled keypoint may reach outside the image: annotation tools round outward.
EDGE_TOLERANCE_PX = 1.0
#: Reasons a person is a counted skip, in the order they are checked.
SKIP_REASONS = ("crowd", "no_keypoints", "missing_image", "empty_box", "outside_image")


@dataclass(frozen=True)
class CocoPerson:
    """One annotated person (instance) of the chosen category.

    ``keypoints`` is float (K, 3): x, y (0-based pixels, NaN where ``v == 0``) and v in {0, 1, 2}.
    """

    image_file: Path
    image_id: int
    width: int
    height: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray
    num_keypoints: int
    annotation_id: int
    area: float


@dataclass
class CocoKeypoints:
    """A read COCO-keypoints file: its keypoint set, usable persons (file order) and skips by reason."""

    source: Path
    category_id: int
    spec: KeypointSpec
    persons: list[CocoPerson]
    skipped: Counter[str] = field(default_factory=Counter)


def _load(json_path: Path) -> dict[str, Any]:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{json_path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{json_path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{json_path}: not COCO keypoints (the top level is not an object)")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data.get(key), list)]
    if missing:
        raise ValueError(f"{json_path}: not COCO keypoints (no {', '.join(missing)} list)")
    return data


def _choose_category(json_path: Path, categories: list[Any], category: str | int | None) -> Mapping[str, Any]:
    with_keypoints = [c for c in categories if isinstance(c, dict) and c.get("keypoints")]
    if not with_keypoints:
        raise ValueError(f"{json_path}: not COCO keypoints (no category in 'categories' has 'keypoints')")
    listing = ", ".join(f"{c.get('name')!r} (id {c.get('id')})" for c in with_keypoints)
    if category is None:
        if len(with_keypoints) > 1:
            raise ValueError(f"{json_path}: several categories have keypoints, choose one (--category): {listing}")
        return with_keypoints[0]
    chosen = [c for c in with_keypoints if category in (c.get("name"), c.get("id"), str(c.get("id")))]
    if not chosen:
        raise ValueError(f"{json_path}: no category {category!r} with keypoints; categories with keypoints: {listing}")
    return chosen[0]


def _images(json_path: Path, images: list[Any]) -> dict[int, dict[str, Any]]:
    by_id: dict[int, dict[str, Any]] = {}
    for i, image in enumerate(images):
        where = f"{json_path}: images[{i}]"
        if not isinstance(image, dict):
            raise ValueError(f"{where} is not an object")
        for key, kind in (("id", int), ("file_name", str), ("width", int), ("height", int)):
            if not isinstance(image.get(key), kind) or isinstance(image.get(key), bool):
                raise ValueError(f"{where}.{key}: expected {kind.__name__}, got {image.get(key)!r}")
        if image["width"] <= 0 or image["height"] <= 0:
            raise ValueError(f"{where}: width and height must be positive, got {image['width']}x{image['height']}")
        if image["id"] in by_id:
            raise ValueError(f"{where}.id: duplicate image id {image['id']}")
        by_id[image["id"]] = image
    return by_id


def _keypoints(where: str, values: Any, k: int) -> np.ndarray:
    """float (K, 3) from COCO's flat ``[x1, y1, v1, ...]``; NaN coordinates where ``v == 0``."""
    if not isinstance(values, list) or len(values) != 3 * k:
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise ValueError(f"{where}.keypoints: expected {3 * k} numbers (3 x {k} keypoints), got {got}")
    try:
        points = np.asarray(values, dtype=float).reshape(k, 3)
    except (TypeError, ValueError):
        raise ValueError(f"{where}.keypoints: not all numbers") from None
    v = points[:, 2]
    if not np.isin(v, (0, 1, 2)).all():
        raise ValueError(f"{where}.keypoints: visibility flags must be 0, 1 or 2, got {sorted(set(v.tolist()))}")
    if not np.isfinite(points[v > 0, :2]).all():
        raise ValueError(f"{where}.keypoints: a labelled keypoint has a non-finite coordinate")
    points[v == 0, :2] = np.nan
    return points


def _bbox(where: str, value: Any) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError(f"{where}.bbox: expected [x, y, w, h], got {value!r}")
    try:
        x, y, w, h = (float(number) for number in value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}.bbox: not all numbers: {value!r}") from None
    if not np.isfinite([x, y, w, h]).all():
        raise ValueError(f"{where}.bbox: non-finite numbers: {value!r}")
    return x, y, w, h


def _inside(box: tuple[float, float, float, float], points: np.ndarray, width: int, height: int) -> bool:
    x, y, w, h = box
    tol = EDGE_TOLERANCE_PX
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        return False
    xy = points[points[:, 2] > 0, :2]
    return bool(((xy >= -tol) & (xy <= np.array([width, height]) + tol)).all())


def _skip_reason(
    ann: Mapping[str, Any],
    labelled: int,
    image_exists: bool,
    box: tuple[float, float, float, float],
    points: np.ndarray,
    image: Mapping[str, Any],
) -> str | None:
    """The first of :data:`SKIP_REASONS` that applies to a person, None for a usable one."""
    if ann.get("iscrowd"):
        return "crowd"
    if labelled == 0:
        return "no_keypoints"
    if not image_exists:
        return "missing_image"
    if box[2] <= 0 or box[3] <= 0:
        return "empty_box"
    if not _inside(box, points, image["width"], image["height"]):
        return "outside_image"
    return None


def read_coco_keypoints(
    json_path: str | Path, images_dir: str | Path, category: str | int | None = None
) -> CocoKeypoints:
    """Read and check a COCO-keypoints file; images are ``images_dir / file_name``.

    Args:
        json_path: the annotation file.
        images_dir: the folder the images' ``file_name`` are relative to.
        category: the category's name or id; needed when several categories have keypoints.
    """
    json_path, images_dir = Path(json_path), Path(images_dir)
    data = _load(json_path)
    chosen = _choose_category(json_path, data["categories"], category)
    spec = spec_from_coco_category(chosen, where=f"{json_path}: category")
    k = spec.num_keypoints
    images = _images(json_path, data["images"])
    exists: dict[int, bool] = {}
    persons: list[CocoPerson] = []
    skipped: Counter[str] = Counter()
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise ValueError(f"{json_path}: annotations[{i}] is not an object")
        if ann.get("category_id") != chosen.get("id"):
            continue
        where = f"{json_path}: annotations[{i}] (id {ann.get('id')})"
        if ann.get("image_id") not in images:
            raise ValueError(f"{where}.image_id: {ann.get('image_id')!r} is not the id of any entry of 'images'")
        points = _keypoints(where, ann.get("keypoints"), k)
        labelled = int((points[:, 2] > 0).sum())
        if "num_keypoints" in ann and ann["num_keypoints"] != labelled:
            raise ValueError(f"{where}.num_keypoints: {ann['num_keypoints']!r}, but {labelled} keypoints have v > 0")
        box = _bbox(where, ann.get("bbox"))
        area = ann.get("area", box[2] * box[3])  # COCO's OKS scale; keypoint-only tools write the box's area
        if isinstance(area, bool) or not isinstance(area, (int, float)) or not area >= 0:
            raise ValueError(f"{where}.area: expected a non-negative number, got {area!r}")
        image = images[ann["image_id"]]
        if image["id"] not in exists:
            exists[image["id"]] = (images_dir / image["file_name"]).is_file()
        reason = _skip_reason(ann, labelled, exists[image["id"]], box, points, image)
        if reason:
            skipped[reason] += 1
            continue
        persons.append(
            CocoPerson(
                image_file=images_dir / image["file_name"],
                image_id=image["id"],
                width=image["width"],
                height=image["height"],
                bbox=box,
                keypoints=points,
                num_keypoints=labelled,
                annotation_id=int(ann.get("id", i)),
                area=float(area),
            )
        )
    return CocoKeypoints(json_path, int(chosen["id"]), spec, persons, skipped)
