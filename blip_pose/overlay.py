"""Skeleton overlays on PIL images, one look for every overlay of the project: dataset inspection, training
predictions against the ground truth, and the predictor's output.

One colour scheme: right limbs red, left blue, centre (pelvis to head) yellow, for prediction and ground truth
alike; the prediction is drawn with filled joints and full-colour limbs, the ground truth with hollow rings and pale
limbs, and a legend says so. Sizes follow the image: line width, joint radius and text grow with its short side,
and an image under :data:`MIN_SIDE` pixels is drawn enlarged by a whole factor (nearest neighbour) so that its text
stays legible. Joint names are placed where they overlap no other name or joint, and dropped where no place is
free (``names=False`` drops them all); the "missing" note wraps inside the image. Limbs, sides and names come from
the :class:`~blip_pose.keypoints.KeypointSpec` (``spec=``, MPII-16 by default): the halves of its flip pairs are
right and left, the rest centre. Shapes: K keypoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec

SIDE_COLORS = {"right": (235, 50, 60), "left": (40, 130, 255), "centre": (255, 200, 0)}
#: Short side (pixels) below which an overlay is drawn enlarged.
MIN_SIDE = 256
Box = tuple[float, float, float, float]


def side(joint: int, spec: KeypointSpec = DEFAULT_SPEC) -> str:
    return "right" if joint in spec.right else "left" if joint in spec.left else "centre"


def _limb_side(a: int, b: int, spec: KeypointSpec) -> str:
    """A limb takes the side of its side joint (pelvis-rhip is right), else centre."""
    return next((side(j, spec) for j in (b, a) if side(j, spec) != "centre"), "centre")


def _pale(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(round(c + (255 - c) * 0.55) for c in rgb)  # type: ignore[return-value]


@dataclass(frozen=True)
class Style:
    """Sizes for a canvas: everything scales with its short side."""

    zoom: int  # the image is drawn this many times larger
    line: int  # limb width, px
    radius: int  # joint radius, px
    font_size: int  # px

    @classmethod
    def for_size(cls, width: int, height: int) -> Style:
        short = min(width, height)
        zoom = max(1, math.ceil(MIN_SIDE / short)) if short < MIN_SIDE else 1
        short *= zoom
        return cls(zoom, max(2, round(short / 200)), max(4, round(short / 90)), max(11, round(short / 36)))

    @property
    def font(self) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return ImageFont.load_default(size=self.font_size)


@dataclass
class Pose:
    """One skeleton to draw: (K, 2) pixels of the original image, which joints exist, prediction or truth."""

    xy: np.ndarray
    found: np.ndarray
    truth: bool = False


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    points: np.ndarray,
    sizes: Sequence[tuple[float, float]],
    canvas: tuple[int, int],
    gap: float,
    taken: Sequence[Box],
) -> list[Box | None]:
    """A box per label beside its point that stays inside ``canvas`` and overlaps neither another label, nor the
    points (as squares of half-side ``gap``), nor ``taken``; None where no candidate place is free.

    Shapes: ``points`` (N, 2) pixels, ``sizes`` N (width, height).
    """
    width, height = canvas
    blocked: list[Box] = [*taken, *((x - gap, y - gap, x + gap, y + gap) for x, y in points)]
    boxes: list[Box | None] = []
    for (x, y), (w, h) in zip(points, sizes):
        candidates = [
            (x + gap + 1, y - h / 2),  # right, left, above, below, then the four corners
            (x - gap - 1 - w, y - h / 2),
            (x - w / 2, y - gap - 1 - h),
            (x - w / 2, y + gap + 1),
            (x + gap, y - gap - h),
            (x - gap - w, y - gap - h),
            (x + gap, y + gap),
            (x - gap - w, y + gap),
        ]
        chosen = None
        for left, top in candidates:
            box = (left, top, left + w, top + h)
            inside = left >= 0 and top >= 0 and box[2] <= width and box[3] <= height
            if inside and not any(_overlaps(box, other) for other in blocked):
                chosen = box
                break
        boxes.append(chosen)
        if chosen is not None:
            blocked.append(chosen)
    return boxes


def wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` (a longer single word gets its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def draw_overlay(
    image: Image.Image,
    poses: Sequence[Pose],
    *,
    names: bool = True,
    label: str | None = None,
    joints: Sequence[int] | None = None,
    spec: KeypointSpec = DEFAULT_SPEC,
) -> Image.Image:
    """A copy of ``image`` (enlarged when small, see :class:`Style`) with the skeletons, legend and notes.

    ``joints``: the ids the caption writes (all K by default); only those can be listed as missing, so a
    one-joint caption's overlay does not call the 15 joints it never writes missing.
    """
    style = Style.for_size(*image.size)
    z = style.zoom
    out = image.convert("RGB")
    if z > 1:
        out = out.resize((out.width * z, out.height * z), Image.Resampling.NEAREST)
    font, pad = style.font, max(3, style.font_size // 4)
    stroke = max(1, style.font_size // 12)
    line_h = style.font_size + pad

    # Header (label + legend) at the top, the missing-joint note wrapped at the bottom: boxes labels must avoid.
    prediction = next((p for p in poses if not p.truth), None)
    header = [label] if label else []
    kinds = {p.truth for p in poses}
    footer: list[str] = []
    if prediction is not None:
        expected = np.zeros(spec.num_keypoints, bool)
        expected[spec.ids() if joints is None else list(joints)] = True
        missing = [spec.captions[j] for j in np.flatnonzero(expected & ~_drawn(prediction))]
        if missing:
            footer = wrap("missing: " + " ".join(missing), font, out.width - 4 * pad)
    header_box: Box = (0, 0, out.width, pad + line_h * (len(header) + 1 + (len(kinds) > 1)))
    footer_box: Box = (0, out.height - pad - line_h * len(footer), out.width, out.height)

    draw = ImageDraw.Draw(out)
    placed: list[tuple[float, float, int]] = []  # predicted joints, for the name labels
    for pose in sorted(poses, key=lambda p: not p.truth):  # ground truth below the prediction
        xy = np.asarray(pose.xy, dtype=np.float64).reshape(spec.num_keypoints, 2) * z + (z - 1) / 2
        drawn = _drawn(pose)
        for a, b in spec.skeleton:
            if drawn[a] and drawn[b]:
                color = SIDE_COLORS[_limb_side(a, b, spec)]
                draw.line([tuple(xy[a]), tuple(xy[b])], fill=_pale(color) if pose.truth else color, width=style.line)
        r = style.radius
        for j in np.flatnonzero(drawn):
            x, y = xy[j]
            color = SIDE_COLORS[side(int(j), spec)]
            if pose.truth:  # a ring: the image shows through, unlike a predicted joint
                draw.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], outline=color, width=max(2, r // 2))
            else:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=color, outline="black")
                placed.append((x, y, int(j)))

    if names and placed:
        points = np.array([(x, y) for x, y, _ in placed])
        texts = [spec.captions[j] for _, _, j in placed]
        sizes = [(font.getlength(t) + 2 * stroke, style.font_size + 2 * stroke) for t in texts]
        taken: list[Box] = [header_box] + ([footer_box] if footer else [])
        for text, box in zip(texts, place_labels(points, sizes, out.size, style.radius + 1, taken)):
            if box is not None:
                draw.text(
                    (box[0] + stroke, box[1] + stroke),
                    text,
                    fill="white",
                    font=font,
                    stroke_width=stroke,
                    stroke_fill="black",
                )

    _panel(out, header_box, pad)
    draw = ImageDraw.Draw(out)
    y = pad
    for line in header:
        draw.text((2 * pad, y), line, fill="white", font=font)
        y += line_h
    x = 2 * pad
    for name, color in SIDE_COLORS.items():
        draw.ellipse(
            [x, y + line_h / 2 - style.radius - 1, x + 2 * style.radius, y + line_h / 2 + style.radius - 1], fill=color
        )
        x += 2 * style.radius + pad
        draw.text((x, y), name, fill=color, font=font)
        x += font.getlength(name) + 2 * pad
    if len(kinds) > 1:
        draw.text((2 * pad, y + line_h), "filled: prediction   ring, pale: ground truth", fill="white", font=font)
    if footer:
        _panel(out, footer_box, pad)
        draw = ImageDraw.Draw(out)
        for i, line in enumerate(footer):
            draw.text((2 * pad, footer_box[1] + pad // 2 + i * line_h), line, fill="white", font=font)
    return out


def _panel(image: Image.Image, box: Box, pad: int) -> None:
    """Darken ``box`` so that text on it reads on any photo."""
    left, top, right, bottom = (round(v) for v in box)
    region = image.crop((left, top, right, bottom))
    image.paste(Image.blend(region, Image.new("RGB", region.size), 0.6), (left, top))


def _drawn(pose: Pose) -> np.ndarray:
    """Joints with finite coordinates that ``found`` marks (a simple_text reference has NaN for the others)."""
    xy = np.asarray(pose.xy, dtype=np.float64).reshape(-1, 2)
    return np.isfinite(xy).all(1) & np.asarray(pose.found, bool)


def draw_pose(
    image: Image.Image,
    xy: np.ndarray,
    found: Sequence[bool] | np.ndarray | None = None,
    *,
    names: bool = True,
    label: str | None = None,
    joints: Sequence[int] | None = None,
    spec: KeypointSpec = DEFAULT_SPEC,
) -> Image.Image:
    """One skeleton (a prediction or a dataset's annotation) on a copy of ``image``.

    Args:
        xy: (K, 2) joint coordinates in ``image``'s pixels.
        found: (K,) which joints exist (default: those with finite coordinates); missing ones are listed.
        names: write each joint's caption name beside it (where there is room).
        label: a line of text at the top (e.g. the file name).
        joints: ids of the joints the caption writes (all K by default): the others are never "missing".
        spec: the keypoint set (skeleton, sides, names).
    """
    found = np.ones(spec.num_keypoints, bool) if found is None else np.asarray(found, bool)
    return draw_overlay(image, [Pose(np.asarray(xy), found)], names=names, label=label, joints=joints, spec=spec)


def draw_comparison(
    image: Image.Image,
    pred_xy: np.ndarray,
    pred_found: np.ndarray,
    ref_xy: np.ndarray,
    *,
    names: bool = False,
    label: str | None = None,
    spec: KeypointSpec = DEFAULT_SPEC,
) -> Image.Image:
    """Prediction (filled) over ground truth (rings) on one image; shapes (K, 2), (K,), (K, 2).

    Only joints the ground truth has (finite ``ref_xy``) can be missing from the prediction."""
    truth = Pose(np.asarray(ref_xy), np.ones(spec.num_keypoints, bool), truth=True)
    expected = np.flatnonzero(_drawn(truth)).tolist()
    pred = Pose(np.asarray(pred_xy), np.asarray(pred_found))
    return draw_overlay(image, [truth, pred], names=names, label=label, joints=expected, spec=spec)
