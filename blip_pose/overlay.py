"""Skeleton overlays on PIL images: dataset inspection, training predictions and the predictor's output."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from blip_pose.pose_format import CAPTION_NAMES, LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS, SKELETON

SIDE_COLORS = {"right": (255, 60, 60), "left": (60, 140, 255), "centre": (255, 210, 0)}


def _side(joint: int) -> str:
    return "right" if joint in RIGHT_JOINTS else "left" if joint in LEFT_JOINTS else "centre"


def draw_pose(
    image: Image.Image,
    xy: np.ndarray,
    found: Sequence[bool] | np.ndarray | None = None,
    *,
    color: tuple[int, int, int] | None = None,
    names: bool = True,
    label: str | None = None,
) -> Image.Image:
    """A copy of ``image`` with the skeleton drawn on it.

    Args:
        xy: (16, 2) joint coordinates in ``image``'s pixels.
        found: (16,) which joints exist; missing ones are not drawn and are listed in a corner note.
        color: one colour for the whole skeleton (comparisons); default colours right/left/centre apart.
        names: write each joint's caption name beside it.
        label: a line of text written at the top-left (e.g. "prediction").
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(NUM_JOINTS, 2)
    # A joint without finite coordinates is missing whatever the caller says (e.g. a simple_text reference).
    drawn = np.asarray(np.isfinite(xy).all(1), dtype=bool)
    if found is not None:
        drawn &= np.asarray(found, bool)
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    size = max(2, round(max(out.size) / 160))
    for a, b in SKELETON:
        if drawn[a] and drawn[b]:
            draw.line([tuple(xy[a]), tuple(xy[b])], fill=color or SIDE_COLORS[_side(int(b))], width=size)
    for j in np.flatnonzero(drawn):
        x, y = xy[j]
        draw.ellipse(
            [x - size, y - size, x + size, y + size], fill=color or SIDE_COLORS[_side(int(j))], outline="black"
        )
        if names:
            draw.text((x + size + 1, y - size), CAPTION_NAMES[j], fill="white", stroke_width=1, stroke_fill="black")
    lines = [label] if label else []
    missing = [CAPTION_NAMES[j] for j in np.flatnonzero(~drawn)]
    if missing:
        lines.append("missing: " + " ".join(missing))
    if lines:
        draw.multiline_text((4, 4), "\n".join(lines), fill=color or "white", stroke_width=1, stroke_fill="black")
    return out


def draw_comparison(image: Image.Image, pred_xy: np.ndarray, pred_found: np.ndarray, ref_xy: np.ndarray) -> Image.Image:
    """Ground truth in green, prediction in magenta, on one image (shapes (16, 2), (16,), (16, 2))."""
    out = draw_pose(image, ref_xy, color=(40, 220, 40), names=False, label="ground truth (green)")
    return draw_pose(out, pred_xy, pred_found, color=(230, 40, 230), names=False, label="\n\nprediction (magenta)")
