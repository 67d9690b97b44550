"""An offline COCO-format source: procedural pictures and one COCO-keypoints JSON, deterministic by seed.

Two sets, each its own file: ``person`` (2-3 stick-figure people per picture with COCO's 17 keypoints, side by side
in non-overlapping boxes) and ``star`` (1-3 five-pointed stars, a small non-human set with its own names, skeleton
and left/right pairs). Some keypoints are hidden behind a grey block (``v=1``) and some people reach past the
picture's bottom edge (those keypoints ``v=0``, unlabelled, as COCO writes out-of-frame joints).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from blip_pose.keypoints.coco import COCO17_NAMES, COCO17_SKELETON_1BASED

KINDS = ("person", "star")
GENERATOR = "coco_pose_dataset.synthetic"
#: Beside ``<kind>_keypoints.json``: what drew it (with its sha256), so a build's source can say "synthetic".
SYNTHETIC_SUFFIX = ".synthetic.json"
IMAGE_SIZE = {"person": (320, 240), "star": (192, 192)}
CATEGORIES: dict[str, dict[str, Any]] = {
    "person": {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO17_NAMES),
        "skeleton": [list(pair) for pair in COCO17_SKELETON_1BASED],
    },
    "star": {
        "id": 2,
        "name": "star",
        "supercategory": "shape",
        # Clockwise from the top; sides are the picture's. Names with spaces: sanitised to tokens by the reader.
        "keypoints": ["top", "right arm", "right leg", "left leg", "left arm"],
        "skeleton": [[1, 3], [3, 5], [5, 2], [2, 4], [4, 1]],
    },
}
_OCCLUDER = (128, 128, 128)


def _direction(angle: float) -> np.ndarray:
    """Unit vector of a limb angle in degrees: 0 points down the picture, 90 to its right."""
    rad = math.radians(angle)
    return np.array([math.sin(rad), math.cos(rad)])


def _person_joints(rng: np.random.Generator, cx: float, top: float, height: float) -> np.ndarray:
    """float (17, 2): COCO-17 joints of a figure facing the camera (its right on the picture's left)."""
    h = height
    joints = np.zeros((17, 2))
    head = np.array([cx + rng.uniform(-0.02, 0.02) * h, top + 0.07 * h])
    joints[0] = head + (0, 0.02 * h)  # nose
    joints[1], joints[2] = head + (0.025 * h, -0.01 * h), head + (-0.025 * h, -0.01 * h)  # eyes (left, right)
    joints[3], joints[4] = head + (0.05 * h, 0.0), head + (-0.05 * h, 0.0)  # ears
    neck = np.array([cx, top + 0.16 * h])
    hip_centre = neck + (rng.uniform(-0.04, 0.04) * h, 0.30 * h)
    for side, sign in ((0, 1.0), (1, -1.0)):  # 0: left (picture right, sign +1), 1: right
        shoulder = neck + (sign * 0.11 * h, 0.0)
        upper = sign * rng.uniform(10, 160)
        elbow = shoulder + 0.17 * h * _direction(upper)
        wrist = elbow + 0.15 * h * _direction(upper + sign * rng.uniform(-60, 60))
        hip = hip_centre + (sign * 0.065 * h, 0.0)
        thigh = sign * rng.uniform(-5, 35)
        knee = hip + 0.25 * h * _direction(thigh)
        ankle = knee + 0.25 * h * _direction(thigh + sign * rng.uniform(-40, 20))
        for first, point in zip((5, 7, 9, 11, 13, 15), (shoulder, elbow, wrist, hip, knee, ankle)):
            joints[first + side] = point
    return joints


def _star_joints(rng: np.random.Generator, cx: float, cy: float, radius: float) -> np.ndarray:
    """float (5, 2): the tips, clockwise from the top, turned by up to 25 degrees."""
    turn = rng.uniform(-25, 25)
    angles = np.radians(turn + 72.0 * np.arange(5))
    return np.stack([cx + radius * np.sin(angles), cy - radius * np.cos(angles)], axis=1)


def _draw_person(draw: ImageDraw.ImageDraw, joints: np.ndarray, height: float) -> None:
    width = max(2, int(height / 30))
    for a, b in COCO17_SKELETON_1BASED:
        left = (a % 2 == 0) and (b % 2 == 0)  # 1-based even ids are COCO's left keypoints
        right = (a % 2 == 1 and a > 1) and (b % 2 == 1 and b > 1)
        colour = (40, 90, 230) if left else (230, 60, 40) if right else (235, 235, 235)
        draw.line([tuple(joints[a - 1]), tuple(joints[b - 1])], fill=colour, width=width)
    r = max(2.0, height / 40)
    for i, (x, y) in enumerate(joints):
        colour = (255, 255, 0) if i == 0 else (0, 200, 255) if i % 2 == 1 else (255, 150, 0)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def _draw_star(draw: ImageDraw.ImageDraw, tips: np.ndarray, colour: tuple[int, int, int]) -> None:
    centre = tips.mean(axis=0)
    inner = centre + 0.4 * (np.roll(tips, -1, axis=0) + tips - 2 * centre) / 2 / math.cos(math.radians(36))
    outline = [tuple(p) for pair in zip(tips, inner) for p in pair]
    draw.polygon(outline, fill=colour)
    tip_colours = ((255, 255, 255), (230, 60, 40), (250, 160, 30), (30, 200, 120), (40, 90, 230))
    for (x, y), tip in zip(tips, tip_colours):
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=tip)


def _instances(kind: str, rng: np.random.Generator, size: tuple[int, int]) -> list[tuple[np.ndarray, float]]:
    """Each instance's keypoints (K, 2) and scale, one per vertical slot of the picture (boxes never overlap)."""
    width, height = size
    count = int(rng.integers(2, 4)) if kind == "person" else int(rng.integers(1, 4))
    slot = width / count
    out = []
    for s in range(count):
        cx = slot * (s + 0.5) + rng.uniform(-0.05, 0.05) * slot
        if kind == "person":
            scale = min(rng.uniform(0.45, 0.9) * height, slot * 0.9)
            reach_below = rng.random() < 0.25  # feet (and maybe knees) out of the frame: v=0
            top = height - scale * rng.uniform(0.6, 0.8) if reach_below else rng.uniform(0.02, 0.98) * (height - scale)
            out.append((_person_joints(rng, cx, top, scale), scale))
        else:
            scale = min(rng.uniform(0.2, 0.4) * height, slot * 0.38)
            cy = rng.uniform(scale + 2, height - scale - 2)
            out.append((_star_joints(rng, cx, cy, scale), scale))
    return out


def _annotate(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, xy: np.ndarray, scale: float, size: tuple[int, int]
) -> tuple[np.ndarray, list[float]]:
    """Visibility flags (K,) and the box: out-of-frame keypoints v=0; an occluder drawn over some v=1."""
    width, height = size
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= width - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= height - 1)
    v = np.where(inside, 2, 0)
    if rng.random() < 0.4:
        cx, cy = xy[rng.integers(len(xy))]
        half = 0.09 * scale
        draw.rectangle([cx - half, cy - half, cx + half, cy + half], fill=_OCCLUDER)
        covered = (np.abs(xy[:, 0] - cx) <= half) & (np.abs(xy[:, 1] - cy) <= half)
        v = np.where(covered & inside, 1, v)
    pad = 0.06 * scale
    labelled = xy[v > 0]
    x0, y0 = np.maximum(labelled.min(axis=0) - pad, 0)
    x1, y1 = np.minimum(labelled.max(axis=0) + pad, (width - 1, height - 1))
    return v, [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]


def write_synthetic_coco(out_dir: str | Path, num_images: int = 20, seed: int = 0, kind: str = "person") -> Path:
    """Write ``num_images`` pictures to ``out_dir/images/`` and their annotations to ``out_dir/{kind}_keypoints.json``.

    Args:
        out_dir: created if missing.
        num_images: pictures to draw (each holds 2-3 people or 1-3 stars).
        seed: the same seed writes the same bytes.
        kind: ``"person"`` (COCO-17) or ``"star"`` (5 keypoints).

    Also writes ``<kind>_keypoints.synthetic.json``: the generator, seed and the JSON's sha256 (a build's source
    record says "synthetic" only for this very file).

    Returns the JSON's path; read it with ``coco_pose_dataset.reader.read_coco_keypoints(path, out_dir / "images")``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown synthetic set {kind!r}; expected one of {', '.join(KINDS)}")
    if num_images < 1:
        raise ValueError(f"num_images must be at least 1, got {num_images}")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    size = IMAGE_SIZE[kind]
    category = CATEGORIES[kind]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(num_images):
        background = tuple(int(c) for c in rng.integers(20, 90, size=3))
        picture = Image.new("RGB", size, background)
        draw = ImageDraw.Draw(picture)
        for xy, scale in _instances(kind, rng, size):
            if kind == "person":
                _draw_person(draw, xy, scale)
            else:
                red, green, blue = (int(c) for c in rng.integers(120, 256, size=3))
                _draw_star(draw, xy, (red, green, blue))
            v, box = _annotate(rng, draw, xy, scale, size)
            flat = np.concatenate([np.where(v[:, None] > 0, np.round(xy, 2), 0.0), v[:, None]], axis=1)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": category["id"],
                    "keypoints": [float(x) if j % 3 < 2 else int(x) for j, x in enumerate(flat.ravel())],
                    "num_keypoints": int((v > 0).sum()),
                    "bbox": box,
                    "area": round(box[2] * box[3], 2),
                    "iscrowd": 0,
                }
            )
        file_name = f"{kind}_{i:05d}.png"
        picture.save(out_dir / "images" / file_name, compress_level=1)
        images.append({"id": i + 1, "file_name": file_name, "width": size[0], "height": size[1]})
    path = out_dir / f"{kind}_keypoints.json"
    data = {
        "info": {"description": f"synthetic {kind} keypoints (coco_pose_dataset.synthetic, seed {seed})"},
        "images": images,
        "annotations": annotations,
        "categories": [category],
    }
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    record = {"annotation_sha256": digest, "generator": GENERATOR, "kind": kind, "seed": seed, "images": num_images}
    path.with_suffix(SYNTHETIC_SUFFIX).write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path
