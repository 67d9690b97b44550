"""Tiny MPII-format releases written on the fly for the dataset tests (images + annotation .mat)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mpii_pose_dataset.download import ANNOTATION_FILE
from mpii_pose_dataset.matfile import release_struct, write_release

W, H = 96, 72


def pose(width: int = W, height: int = H, seed: int = 0) -> np.ndarray:
    """(16, 3) x, y, visible inside a ``width`` x ``height`` image."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.25, 0.75, size=(16, 2)) * (width, height)
    return np.column_stack([np.round(xy, 1), np.arange(16) % 3 != 0])


def person(
    points: np.ndarray,
    *,
    center: tuple[float, float] | None = None,
    scale: float | None = 0.3,
    head: tuple[float, float, float, float] | None = None,
) -> dict:
    """A matfile annorect dict; the crop centre defaults to the joints' centre."""
    cx, cy = center if center is not None else points[:, :2].mean(0)
    x1, y1 = points[9, :2] - 3
    hx = head if head is not None else (x1, y1, x1 + 6, y1 + 6)
    return {
        "x1": float(hx[0]),
        "y1": float(hx[1]),
        "x2": float(hx[2]),
        "y2": float(hx[3]),
        "scale": scale,
        "objpos": {"x": float(cx), "y": float(cy)},
        "annopoints": {
            "point": [
                {"id": j, "x": float(x), "y": float(y), "is_visible": int(v)} for j, (x, y, v) in enumerate(points)
            ]
        },
    }


def entry(name: str, persons: list[dict], vididx: int | None = None) -> dict:
    out = {"image": {"name": name}, "annorect": persons, "frame_sec": 1.0}
    if vididx is not None:
        out["vididx"] = vididx
    return out


def picture(width: int = W, height: int = H, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), "RGB")


def write(root: Path, annolist: list[dict], images: dict[str, Image.Image | bytes], **release: Any) -> Path:
    """``root/mpii_human_pose_v1_u12_1.mat`` + ``root/images/``; returns ``root``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        path = root / "images" / name
        if isinstance(image, bytes):
            path.write_bytes(image)
        else:
            image.save(path)
    write_release(root / ANNOTATION_FILE, release_struct(annolist, **release))
    return root


def simple_release(root: Path, n: int = 10, videos: int | None = None, **release: Any) -> Path:
    """``n`` good single-person images (``videos``: frames spread over that many videos)."""
    annolist, images = [], {}
    for i in range(n):
        name = f"{i:09d}.jpg"
        annolist.append(entry(name, [person(pose(seed=i))], None if videos is None else 1 + i % videos))
        images[name] = picture(seed=i)
    return write(root, annolist, images, **release)
