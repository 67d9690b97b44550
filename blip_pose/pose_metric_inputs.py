"""Metric inputs: captions or coordinate arrays -> ``(xy (N, K, 2), found (N, K))``, visibility -> (N, K).

Split from :mod:`blip_pose.pose_metrics` (which re-exports these names): the checks that turn whatever a caller
hands the metric into arrays, with one-line errors naming the argument, before any score is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.pose_format import CAPTION_COLUMNS, COORDINATE_COLUMNS, parse_visibility


def _is_array_like(value: Any) -> bool:
    """A list, tuple, numpy array or tensor: indexable and sized, but not text or a mapping."""
    return (
        hasattr(value, "__len__")
        and hasattr(value, "__getitem__")
        and not isinstance(value, (str, bytes, Mapping))
        and getattr(value, "ndim", 1) > 0  # a 0-d array or tensor is a scalar
    )


def check_array_argument(value: Any, what: str) -> None:
    """Refuse a scalar, string, mapping or iterator where a list (or array) of values is expected."""
    if not _is_array_like(value):
        raise ValueError(f"{what} must be a list or array, got {type(value).__name__}")


def check_samples(values: Any, what: str) -> None:
    """``predictions`` / ``references``: a non-empty list of caption strings, or of (J, 2) arrays, not a mix.

    Raises:
        ValueError: naming ``what`` and the first offending entry.
    """
    if values is None:
        raise ValueError(f"{what} is None; give a list of captions (str) or of (J, 2) coordinate arrays")
    check_array_argument(values, what)
    if len(values) == 0:
        raise ValueError(f"{what} is empty; give at least one sample")
    captions = isinstance(values[0], str)
    for i, value in enumerate(values):
        if captions != isinstance(value, str) or not (captions or _is_array_like(value)):
            expected = "a caption string like the first" if captions else "a caption string or a (J, 2) array"
            if i > 0 and not captions:
                expected = "a (J, 2) array like the first"
            raise ValueError(f"{what}[{i}] is {type(value).__name__}; expected {expected}")


def _as_float_array(values, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{what} must be numeric arrays of one shape: {err}") from None


def parse_captions(
    captions: Sequence[str],
    caption_type: str = "text",
    image_sizes: Sequence[Sequence[float]] | np.ndarray | None = None,
    *,
    what: str = "predictions",
    check_type: bool = False,
    spec: KeypointSpec = DEFAULT_SPEC,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates from captions of one caption column.

    Args:
        captions: N caption strings.
        caption_type: a coordinate column of :data:`~blip_pose.pose_format.CAPTION_COLUMNS`.
        image_sizes: (N, 2) width, height; required for normalized columns (scales them back to pixels).
        what: the argument name used in error messages.
        check_type: raise when the captions do not look like ``caption_type`` (use for references, which the
            renderer wrote; model output is never rejected).
        spec: the keypoint set the captions name (K keypoints).
    Returns:
        xy float (N, K, 2) pixels, NaN where not found; found bool (N, K).
    """
    if caption_type not in CAPTION_COLUMNS:
        raise ValueError(f"caption_type must be one of {list(CAPTION_COLUMNS)}, got {caption_type!r}")
    fmt = CAPTION_COLUMNS[caption_type].format
    if not fmt.coordinates:
        raise ValueError(f"{caption_type} captions carry no coordinates; pass them as reference_visibility")
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise ValueError(f"{what}[{i}] is {type(caption).__name__}, expected a {caption_type} caption string")
    values, found = fmt.parse(captions, spec=spec)
    n = len(captions)
    sizes = None
    if fmt.unit == "fraction":
        if image_sizes is None:
            raise ValueError(f"caption_type {caption_type!r} needs image_sizes: one (width, height) per sample")
        sizes = _as_float_array(image_sizes, "image_sizes")
        if sizes.shape != (n, 2):
            raise ValueError(f"image_sizes must have shape ({n}, 2) as width, height, got {sizes.shape}")
        bad = ~(np.isfinite(sizes) & (sizes > 0)).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"image_sizes[{i}] is {sizes[i].tolist()}; width and height must be positive")
    if check_type:
        impossible, symptom = fmt.impossible(values, found)
        if impossible.any():
            i = int(np.flatnonzero(impossible.any(axis=1))[0])
            others = [c for c in COORDINATE_COLUMNS if CAPTION_COLUMNS[c].format is not fmt]
            raise ValueError(
                f"{what}[{i}] has {symptom}, which {caption_type} captions never contain; "
                f"is it one of {others}? Set caption_type to match the captions"
            )
    return fmt.to_pixels(values, sizes), found


def points_from_arrays(points: Sequence | np.ndarray, what: str = "predictions") -> tuple[np.ndarray, np.ndarray]:
    """``(xy, found)`` from pixel arrays (N, J, 2): a joint whose x and y are both NaN is "not found".

    Raises:
        ValueError: on another shape, inf, or a joint with only one NaN coordinate.
    """
    xy = _as_float_array(points, what)
    if xy.ndim != 3 or xy.shape[2] != 2:
        raise ValueError(f"{what} must be arrays of shape (J, 2) per sample, got {xy.shape[1:]} per sample")
    nan = np.isnan(xy)
    found = ~nan.all(axis=-1)
    bad = np.isinf(xy).any(axis=-1) | (nan.any(axis=-1) & found)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{what}[{i}] joint {j} is {xy[i, j].tolist()}; use NaN for both x and y of a "
            "missing joint, finite numbers otherwise"
        )
    return xy, found


def visibility_array(
    visibility: Sequence[str] | Sequence[Sequence[int]] | np.ndarray, n: int, *, spec: KeypointSpec = DEFAULT_SPEC
) -> np.ndarray:
    """(N, K) 0/1 from visibility captions (keypoints they lack count as not visible) or from 0/1 arrays."""
    num_joints = spec.num_keypoints
    if len(visibility) != n:
        raise ValueError(f"reference_visibility has {len(visibility)} entries for {n} samples")
    if n and isinstance(visibility[0], str):
        vis = np.zeros((n, num_joints), dtype=np.int64)
        for i, caption in enumerate(visibility):
            if not isinstance(caption, str):
                raise ValueError(f"reference_visibility[{i}] is {type(caption).__name__}, expected a caption")
            flags, found = parse_visibility(caption, spec=spec)
            vis[i] = np.where(found, flags, 0)
        return vis
    vis = _as_float_array(visibility, "reference_visibility")
    if vis.shape != (n, num_joints) or not np.isin(vis, (0, 1)).all():
        raise ValueError(f"reference_visibility must be 0/1 of shape ({n}, {num_joints}), got shape {vis.shape}")
    return vis.astype(np.int64)
