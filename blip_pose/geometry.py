"""Where the model's 384x384 input comes from in the original image, and how to go back.

Both preprocessing modes of the method are an axis-aligned box of the original image (``crop_box``, original
pixels, may extend past the borders) stretched onto a ``size`` x ``size`` output:

* ``resize`` (the published method): the whole image, aspect ratio not kept;
* ``crop``: a square around the person centre, side = 200 * scale * padding (MPII's scale is height / 200 px).

A point maps as ``processed = (original - box[:2]) * size / box_extent``; :meth:`BoxTransform.inverse` undoes it
exactly. The same record (:class:`Preprocessing`) is written as ``preprocessing.json`` next to a trained model so
the predictor can return joints in the user's own pixels.

Coordinate convention (one for the whole project, datasets and predictions alike): 0-based pixel coordinates, the
top-left pixel at (0, 0). MPII's annotation file is MATLAB 1-based (top-left pixel at (1, 1)); its readers subtract
:data:`MATLAB_ORIGIN` once, on reading, as mmpose's MPII loader does. A point is in a ``width`` x ``height`` image
when ``0 <= x < width`` and ``0 <= y < height`` (:func:`inside_image`, the one place this is decided): x = width
is one column past the last pixel, outside (it is MPII's 1-based ``width + 1``). Boxes and scales treat the
image as the rectangle ``[0, width] x [0, height]`` (``crop_box`` of ``resize`` is ``(0, 0, width, height)``),
so a point is not shifted by the half pixel between a pixel's index and its centre; the error this leaves is under
half a processed pixel (the same as mmpose's default, non-"unbiased" pipeline).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.keypoints.mpii import MPII_SCALE_PX
from blip_pose.keypoints.saved import spec_beside
from blip_pose.keypoints.spec import CAPTION_TOKEN
from blip_pose.run_folder import PREPROCESSING_FILE

#: Key of a dataset card's YAML mapping each config to the recipe its images were made with (the builder writes it,
#: training reads it, for a local folder and a Hub id alike).
PREPROCESSING_CARD_KEY = "pose_preprocessing"
MODES = ("resize", "crop")
#: Where MATLAB (and so MPII's annotation file) puts the top-left pixel; this project's coordinates start at 0.
MATLAB_ORIGIN = 1.0
#: The convention above, as a dataset's recipe records it.
COORDINATES = "0-based pixels"
#: A crop box may reach at most this many image sizes (the longer side) past each border. apply() pads the image
#: to the box with black, so an unbounded box (a bad scale, a box of 1e9 px) would allocate a canvas of any size.
CROP_LIMIT = 1.0


def inside_image(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Which points lie in a ``width`` x ``height`` image: ``0 <= x < width`` and ``0 <= y < height`` (0-based).

    Args:
        points: (..., 2) x, y (extra trailing columns are ignored); NaN is outside.
    Returns:
        bool (...,).
    """
    pts = np.asarray(points, dtype=np.float64)
    x, y = pts[..., 0], pts[..., 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def head_box_ok(boxes: np.ndarray) -> np.ndarray:
    """Which head boxes ``(..., 4)`` as x1, y1, x2, y2 span a positive, finite width and height: PCKh scales by the
    head size, so a zero-size or inverted rectangle (x2 <= x1 or y2 <= y1) is a broken label, never a score."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.isfinite(b).all(axis=-1) & (b[..., 2] > b[..., 0]) & (b[..., 3] > b[..., 1])


class CropTooLargeError(ValueError):
    """A crop box reaching further past the image than :data:`CROP_LIMIT` allows."""


def check_crop(box: tuple[float, float, float, float], width: int, height: int) -> None:
    """Refuse a box reaching more than ``CROP_LIMIT * max(width, height)`` px past a ``width`` x ``height`` image."""
    reach = CROP_LIMIT * max(width, height)
    x0, y0, x1, y1 = box
    if not (x0 >= -reach and y0 >= -reach and x1 <= width + reach and y1 <= height + reach):
        raise CropTooLargeError(
            f"crop box {tuple(round(v, 1) for v in box)} reaches more than {CROP_LIMIT:g}x the image size "
            f"past a {width}x{height} image; check the person box / scale"
        )


@dataclass(frozen=True)
class BoxTransform:
    """Maps the box ``(x0, y0, x1, y1)`` of an original image onto a ``width`` x ``height`` output."""

    box: tuple[float, float, float, float]
    width: int
    height: int

    @property
    def scale(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return self.width / (x1 - x0), self.height / (y1 - y0)

    def forward(self, points: np.ndarray) -> np.ndarray:
        """Original -> processed frame. ``points``: (..., 2) x, y; extra trailing columns are kept."""
        pts = np.array(points, dtype=np.float64, copy=True)
        pts[..., 0] = (pts[..., 0] - self.box[0]) * self.scale[0]
        pts[..., 1] = (pts[..., 1] - self.box[1]) * self.scale[1]
        return pts

    def inverse(self, points: np.ndarray) -> np.ndarray:
        """Processed -> original frame. ``points``: (..., 2) x, y; extra trailing columns are kept."""
        pts = np.array(points, dtype=np.float64, copy=True)
        pts[..., 0] = pts[..., 0] / self.scale[0] + self.box[0]
        pts[..., 1] = pts[..., 1] / self.scale[1] + self.box[1]
        return pts

    def apply(self, image: Image.Image, original_size: tuple[int, int] | None = None) -> Image.Image:
        """Cut the box out of ``image`` and resize it to the output size; outside the image is black.

        ``original_size`` is the size the box refers to when ``image`` was decoded smaller (JPEG draft mode).
        """
        sx = sy = 1.0
        if original_size is not None:
            sx, sy = image.width / original_size[0], image.height / original_size[1]
        x0, y0, x1, y1 = self.box[0] * sx, self.box[1] * sy, self.box[2] * sx, self.box[3] * sy
        # resize(box=...) filters when shrinking (transform(EXTENT) aliases) and maps box edges onto output edges,
        # the convention forward() uses. A box reaching past the image is first given a black border.
        left, top = max(0, math.ceil(-x0)), max(0, math.ceil(-y0))
        right, bottom = max(0, math.ceil(x1 - image.width)), max(0, math.ceil(y1 - image.height))
        if left or top or right or bottom:
            canvas = Image.new(image.mode, (image.width + left + right, image.height + top + bottom))
            canvas.paste(image, (left, top))
            image, x0, y0, x1, y1 = canvas, x0 + left, y0 + top, x1 + left, y1 + top
        return image.resize((self.width, self.height), Image.Resampling.BICUBIC, box=(x0, y0, x1, y1))


def to_original_frame(points: np.ndarray, boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Batched :meth:`BoxTransform.inverse`: processed-frame points back to original pixels, one box per image.

    Args:
        points: (N, ..., 2) x, y in each image's processed frame (NaN stays NaN).
        boxes: (N, 4) ``crop_box`` x0, y0, x1, y1 in original pixels.
        sizes: (N, 2) processed width, height.
    Returns:
        (N, ..., 2) x, y in the original images' 0-based pixels (the module's convention).
    """
    points, boxes, sizes = (np.asarray(a, dtype=np.float64) for a in (points, boxes, sizes))
    shape = (len(points),) + (1,) * (points.ndim - 2) + (2,)
    origin = boxes[:, :2].reshape(shape)
    per_pixel = ((boxes[:, 2:] - boxes[:, :2]) / sizes).reshape(shape)  # original pixels per processed pixel
    return points * per_pixel + origin


def resize_transform(width: int, height: int, size: int) -> BoxTransform:
    """The published preprocessing: the whole ``width`` x ``height`` image stretched to ``size`` x ``size``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return BoxTransform((0.0, 0.0, float(width), float(height)), size, size)


def crop_transform(center: tuple[float, float], scale: float, size: int, padding: float = 1.25) -> BoxTransform:
    """A square of side ``200 * scale * padding`` around ``center`` (MPII objpos/scale), resized to ``size``."""
    if not scale > 0 or not np.isfinite(scale):
        raise ValueError(f"person scale must be a positive number, got {scale}")
    if not np.isfinite(center).all():
        raise ValueError(f"person centre must be finite, got {center}")
    half = MPII_SCALE_PX * scale * padding / 2
    cx, cy = float(center[0]), float(center[1])
    return BoxTransform((cx - half, cy - half, cx + half, cy + half), size, size)


def person_box_transform(
    pre: Preprocessing, width: int, height: int, box: tuple[float, float, float, float]
) -> BoxTransform:
    """The crop around a person box ``(x0, y0, x1, y1)`` (original pixels), as top-down pose models make it: the
    square of side ``max(w, h) * crop_padding`` around the box's centre (MPII's scale is ``max(w, h) / 200``).
    COCO builds and the predictor's person boxes both crop by this rule."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"person box must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {tuple(box)}")
    return pre.transform(width, height, ((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0) / MPII_SCALE_PX)


@dataclass(frozen=True)
class Preprocessing:
    """How training images and captions were made; saved beside the model as ``preprocessing.json``.

    ``simple_joints``: the joints of the dataset's simple caption columns (a build setting): the caption grammar and
    the predictor read the model's own subset from here, so a model trained on five-joint captions can write them.
    Caption tokens of the dataset's keypoint set (checked against it by :meth:`simple_ids`; MPII's by default).
    """

    mode: str = "resize"
    image_size: int = 384
    crop_padding: float = 1.25
    simple_joints: tuple[str, ...] = DEFAULT_SPEC.default_simple_joints

    def __post_init__(self) -> None:
        if not isinstance(self.simple_joints, (list, tuple)):
            raise ValueError(f"simple_joints must be a list of joint names, got {self.simple_joints!r}")
        object.__setattr__(self, "simple_joints", tuple(self.simple_joints))  # a JSON list or a recipe's list
        if not self.simple_joints:
            raise ValueError("the joint subset is empty")
        bad = [j for j in self.simple_joints if not (isinstance(j, str) and CAPTION_TOKEN.fullmatch(j))]
        if bad:
            raise ValueError(f"simple_joints {bad} are not joint names (lowercase words joined by '_')")
        if self.mode not in MODES:
            raise ValueError(f"preprocessing mode must be one of {MODES}, got {self.mode!r}")
        if self.image_size <= 0 or self.crop_padding <= 0:
            raise ValueError(f"image_size and crop_padding must be positive, got {self}")

    def transform(
        self,
        width: int,
        height: int,
        center: tuple[float, float] | None = None,
        scale: float | None = None,
    ) -> BoxTransform:
        """The transform for one image; ``crop`` needs the person's centre and scale."""
        if self.mode == "resize":
            return resize_transform(width, height, self.image_size)
        if center is None or scale is None:
            raise ValueError("crop preprocessing needs the person centre and scale")
        transform = crop_transform(center, scale, self.image_size, self.crop_padding)
        check_crop(transform.box, width, height)
        return transform

    def simple_ids(self, spec: KeypointSpec = DEFAULT_SPEC) -> list[int]:
        """Ids of ``simple_joints`` in ``spec``; unknown names are an error here, not a grammar that never matches."""
        return spec.ids(self.simple_joints)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / PREPROCESSING_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def from_recipe(cls, recipe: Mapping[str, Any], spec: KeypointSpec = DEFAULT_SPEC) -> Preprocessing:
        """The preprocessing part of a dataset build recipe (which also holds split and filter settings); a recipe
        that records no simple joints has the default subset of its dataset's keypoint set ``spec``."""
        values = {f.name: recipe[f.name] for f in fields(cls) if f.name in recipe}
        return cls(**{"simple_joints": spec.default_simple_joints, **values})

    @classmethod
    def load(cls, directory: str | Path, spec: KeypointSpec | None = None) -> Preprocessing:
        """Read ``preprocessing.json``; unknown keys, or simple joints not in ``spec`` (default: the set saved
        beside it, else MPII-16), are an error naming the file."""
        path = Path(directory) / PREPROCESSING_FILE
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        try:
            preprocessing = cls(**data)
            preprocessing.simple_ids(spec_beside(directory) if spec is None else spec)
        except ValueError as err:  # a bad mode, size or joint name: said against the file
            raise ValueError(f"{path}: {err}") from None
        return preprocessing
