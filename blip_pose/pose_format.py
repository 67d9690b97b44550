"""The caption formats: the one place that says how keypoints are written as text and read back.

Every part of the project (dataset builder, trainer, metric, predictor) renders and parses captions through the
table here, so a caption written by the builder is read back by exactly the same rule. Which keypoints a caption
names comes from a :class:`~blip_pose.keypoints.KeypointSpec` (``spec=``, MPII-16 by default); examples below are
MPII's. Shapes: K keypoints, N captions.

Caption columns (the method's eight columns are these six plus ``image_name`` and ``joint_points``), listed in
:data:`CAPTION_COLUMNS` with their :class:`CaptionFormat` (unit, render, parse, number words) and joint subset:

=========================  ==============================================  ==========================
column                     example                                         render / parse
=========================  ==============================================  ==========================
text                       ``rankl:123,356 rknee:130,301 ... lwri:220,200``  render_coords / parse_coords
simple_text                ``upper_neck:190,80`` (configurable subset)       render_coords / parse_coords
visibility_text            ``rankl:1 rknee:0 ...``                           render_visibility / parse_visibility
simple_visibility_text     ``upper_neck:1``                                  render_visibility / parse_visibility
normalized_text            ``rankl:0.320,0.927 ...`` (x/width, y/height)     render_normalized / parse_normalized
normalized_simple_text     ``upper_neck:0.495,0.208``                        render_normalized / parse_normalized
loc_text                   ``<loc123><loc356>...`` (2K tokens, id order)     render_loc / parse_loc_batch
=========================  ==============================================  ==========================

``loc_text`` is the compact format (PaliGemma / Pix2Seq style): x then y of every keypoint in id order, each one
added tokenizer token ``<locN>`` for bin N of :data:`LOC_BINS` over the processed image, so names are implied and a
caption is 2K tokens + BOS/EOS (32 for MPII; the method's text is ~82 with the presets' vocabulary, ~105 with
BERT's WordPiece).
With ``LOC_BINS`` a multiple of the image side (384 and 128 px) whole pixels round-trip exactly.

Parsing (:mod:`blip_pose.pose_parsing`) reads what a model really emits after ``tokenizer.decode`` and never raises
on model output: it returns coordinates plus a found-mask per keypoint.

To add a caption format: write its render function here and its batch parser in :mod:`blip_pose.pose_parsing`,
add a :class:`CaptionFormat` to :data:`CAPTION_FORMATS` and the columns that use it to :data:`CAPTION_COLUMNS`; the
builder, trainer, metric, predictor, card and presets' vocabulary follow from the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.pose_parsing import (
    DEFAULT_LOC_VOCABULARY,
    LOC_BINS,
    LOC_TOKENS,
    MAX_COORDINATE,
    MAX_DIGITS,
    LocVocabulary,
    ParsedPose,
    coord_spans,
    loc_spans,
    parse_coords,
    parse_coords_batch,
    parse_loc_batch,
    parse_normalized,
    parse_visibility,
    parse_visibility_batch,
)

__all__ = [
    "CAPTION_COLUMNS",
    "CAPTION_FORMATS",
    "COORDINATE_COLUMNS",
    "LOC",
    "DEFAULT_LOC_VOCABULARY",
    "LOC_BINS",
    "LOC_TOKENS",
    "LocVocabulary",
    "MAX_COORDINATE",
    "MAX_DIGITS",
    "NORMALIZED",
    "PIXEL",
    "VISIBILITY",
    "CaptionColumn",
    "CaptionFormat",
    "ParsedPose",
    "caption_column",
    "coord_spans",
    "joint_spans",
    "loc_spans",
    "parse_coords",
    "parse_coords_batch",
    "parse_loc_batch",
    "parse_normalized",
    "parse_pixels",
    "parse_visibility",
    "render_captions",
    "render_coords",
    "render_loc",
    "render_normalized",
    "render_visibility",
    "round_half_up",
]

# ----------------------------------------------------------------------------------------------------------------
# Render
# ----------------------------------------------------------------------------------------------------------------


def _as_points(points: Sequence | np.ndarray, spec: KeypointSpec, what: str = "points") -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    k = spec.num_keypoints
    if arr.ndim != 2 or arr.shape[0] != k or arr.shape[1] < 2:
        raise ValueError(f"{what} must have shape ({k}, 2) or ({k}, 3), got {arr.shape}")
    if not np.isfinite(arr[:, :2]).all():
        raise ValueError(f"{what} contain NaN or inf; a caption needs every rendered joint")
    return arr[:, :2]


def round_half_up(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves up (numpy's rint rounds halves to even)."""
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def render_coords(
    points: Sequence | np.ndarray, joints: Iterable[str | int] | None = None, *, spec: KeypointSpec = DEFAULT_SPEC
) -> str:
    """``"rankl:123,356 rknee:130,301 ..."``: integer pixels, keypoints in id order.

    Args:
        points: array (K, 2) or (K, 3) of x, y (, visible) in the processed-image frame.
        joints: caption names or ids of the subset to write (all K by default).
    """
    xy = round_half_up(_as_points(points, spec))
    return " ".join(f"{spec.captions[j]}:{xy[j, 0]},{xy[j, 1]}" for j in spec.ids(joints))


def render_normalized(
    points: Sequence | np.ndarray,
    width: float,
    height: float,
    joints: Iterable[str | int] | None = None,
    *,
    spec: KeypointSpec = DEFAULT_SPEC,
) -> str:
    """``"rankl:0.320,0.927 ..."``: x/width and y/height with 3 decimals; every written joint must be in frame."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    ids = spec.ids(joints)
    norm = _as_points(points, spec) / np.array([width, height], dtype=np.float64)
    sub = norm[ids]
    if (sub < 0).any() or (sub > 1).any():
        bad = [spec.captions[j] for j in ids if not ((0 <= norm[j]) & (norm[j] <= 1)).all()]
        raise ValueError(f"joints {bad} lie outside the {width}x{height} image; normalized captions need [0, 1]")
    return " ".join(f"{spec.captions[j]}:{norm[j, 0]:.3f},{norm[j, 1]:.3f}" for j in ids)


def render_visibility(
    visible: Sequence | np.ndarray, joints: Iterable[str | int] | None = None, *, spec: KeypointSpec = DEFAULT_SPEC
) -> str:
    """``"rankl:1 rknee:0 ..."``: 1 visible, 0 occluded, for the subset (all K by default)."""
    vis = np.asarray(visible)
    if vis.shape != (spec.num_keypoints,):
        raise ValueError(f"visibility must have shape ({spec.num_keypoints},), got {vis.shape}")
    if not np.isin(vis, (0, 1)).all():
        raise ValueError(f"visibility flags must be 0 or 1, got {sorted(set(vis.tolist()))}")
    return " ".join(f"{spec.captions[j]}:{int(vis[j])}" for j in spec.ids(joints))


def render_loc(points: Sequence | np.ndarray, width: float, height: float, *, spec: KeypointSpec = DEFAULT_SPEC) -> str:
    """``"<loc123><loc356>..."``: bin ``round(x / width * LOC_BINS)`` then y, for all K keypoints in id order."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    norm = _as_points(points, spec) / np.array([width, height], dtype=np.float64)
    outside = ((norm < 0) | (norm > 1)).any(axis=1)
    if outside.any():
        bad = [spec.captions[j] for j in np.flatnonzero(outside)]
        raise ValueError(f"joints {bad} lie outside the {width}x{height} image; loc captions need them inside")
    bins = np.minimum(round_half_up(norm * LOC_BINS), LOC_BINS - 1)  # x == width is the last pixel's far edge
    return "".join(LOC_TOKENS[b] for b in bins.reshape(-1))


# ----------------------------------------------------------------------------------------------------------------
# The caption-column table: every other module asks it which columns carry coordinates, which joints a column
# writes, and how to render and parse it. A new caption format is one CaptionFormat plus the columns that use it.
# ----------------------------------------------------------------------------------------------------------------

#: ``render(xy (K, 2), visible (K,), width, height, joint ids, spec) -> caption``.
RenderFn = Callable[[np.ndarray, np.ndarray, float, float, Sequence[int], KeypointSpec], str]
#: ``parse(captions, spec=spec) -> (values (N, K, 2) in the format's own unit, found (N, K))``.
ParseFn = Callable[..., tuple[np.ndarray, np.ndarray]]
#: ``spans(caption, spec=spec) -> per keypoint the [start, end) characters its parser read, None where not found``.
SpanFn = Callable[..., list[tuple[int, int] | None]]


@dataclass(frozen=True)
class CaptionFormat:
    """How one kind of caption writes keypoints and reads them back.

    ``unit``: ``"pixel"`` (integer pixels of the processed image), ``"fraction"`` (x/width, y/height) or ``"flag"``
    (visibility 0/1 in ``values[..., 0]``). ``words``: the number words its captions contain, which a caption
    tokenizer must hold as whole tokens (the presets build their vocabulary from them). ``spans``: where in a
    caption ``parse`` read each keypoint (None: the format does not say). ``parse`` and ``spans`` take ``spec=``.
    """

    name: str
    unit: str
    render: RenderFn
    parse: ParseFn
    words: tuple[str, ...] = ()
    spans: SpanFn | None = None

    @property
    def coordinates(self) -> bool:
        """True when the captions carry joint positions (and so can be scored)."""
        return self.unit != "flag"

    def to_pixels(self, values: np.ndarray, sizes: np.ndarray | None) -> np.ndarray:
        """Parsed values (N, K, 2) -> pixels of the processed image; ``sizes`` (N, 2) width, height."""
        if self.unit == "fraction":
            if sizes is None:
                raise ValueError(f"{self.name} captions need the image sizes to give pixels")
            return values * np.asarray(sizes, dtype=np.float64)[:, None, :]
        return values

    def impossible(self, values: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, str]:
        """``(bad (N, K), symptom)``: values a caption of this format never holds (for checking references)."""
        if self.unit == "fraction":
            return found & ((values < 0) | (values > 1)).any(axis=-1), "values outside [0, 1]"
        if self.unit == "pixel":
            return found & (values != np.floor(values)).any(axis=-1), "non-integer pixel values"
        return found & ~np.isin(values[..., 0], (0, 1)), "flags other than 0/1"


@dataclass(frozen=True)
class CaptionColumn:
    """A dataset column of captions: its format and its keypoints (all K, or the dataset's simple subset)."""

    name: str
    format: CaptionFormat
    simple: bool = False

    def joint_ids(
        self, simple_joints: Iterable[str | int] | None = None, *, spec: KeypointSpec = DEFAULT_SPEC
    ) -> list[int]:
        """Ids this column writes: all K, or ``simple_joints`` (the spec's default subset when None)."""
        if not self.simple:
            return spec.ids()
        return spec.ids(spec.default_simple_joints if simple_joints is None else simple_joints)

    def render(
        self,
        points: np.ndarray,
        visible: np.ndarray,
        width: float,
        height: float,
        simple_joints: Iterable[str | int] | None = None,
        *,
        spec: KeypointSpec = DEFAULT_SPEC,
    ) -> str:
        ids = self.joint_ids(simple_joints, spec=spec)
        return self.format.render(np.asarray(points), np.asarray(visible), width, height, ids, spec)


PIXEL = CaptionFormat(
    "pixel",
    "pixel",
    lambda xy, vis, w, h, ids, spec: render_coords(xy, ids, spec=spec),
    parse_coords_batch,
    words=tuple(str(i) for i in range(1000)),
    spans=coord_spans,
)
NORMALIZED = CaptionFormat(
    "normalized",
    "fraction",
    lambda xy, vis, w, h, ids, spec: render_normalized(xy, w, h, ids, spec=spec),
    parse_coords_batch,
    # Zero-padded decimals ("0.050" -> "0", ".", "050"); the others are pixel numbers.
    words=(*(f"{i:02d}" for i in range(10)), *(f"{i:03d}" for i in range(100))),
    spans=coord_spans,
)
VISIBILITY = CaptionFormat(
    "visibility",
    "flag",
    lambda xy, vis, w, h, ids, spec: render_visibility(vis, ids, spec=spec),
    parse_visibility_batch,
)
LOC = CaptionFormat(
    "loc",
    "fraction",
    lambda xy, vis, w, h, ids, spec: render_loc(xy, w, h, spec=spec),
    parse_loc_batch,
    spans=loc_spans,
)
CAPTION_FORMATS: tuple[CaptionFormat, ...] = (PIXEL, NORMALIZED, VISIBILITY, LOC)

CAPTION_COLUMNS: dict[str, CaptionColumn] = {
    column.name: column
    for column in (
        CaptionColumn("text", PIXEL),
        CaptionColumn("simple_text", PIXEL, simple=True),
        CaptionColumn("visibility_text", VISIBILITY),
        CaptionColumn("simple_visibility_text", VISIBILITY, simple=True),
        CaptionColumn("normalized_text", NORMALIZED),
        CaptionColumn("normalized_simple_text", NORMALIZED, simple=True),
        CaptionColumn("loc_text", LOC),
    )
}
#: Columns whose captions carry joint positions: the ones a pose model can be trained on and scored with.
COORDINATE_COLUMNS: tuple[str, ...] = tuple(name for name, c in CAPTION_COLUMNS.items() if c.format.coordinates)


def caption_column(name: str, coordinates: bool = True) -> CaptionColumn:
    """The table entry of column ``name``; with ``coordinates`` it must carry joint positions."""
    if name not in CAPTION_COLUMNS:
        raise ValueError(f"unknown caption column {name!r}; expected one of {list(CAPTION_COLUMNS)}")
    column = CAPTION_COLUMNS[name]
    if coordinates and not column.format.coordinates:
        raise ValueError(f"caption column {name!r} holds no joint coordinates; use one of {list(COORDINATE_COLUMNS)}")
    return column


def render_captions(
    points: Sequence | np.ndarray,
    visible: Sequence | np.ndarray,
    width: float,
    height: float,
    simple_joints: Iterable[str | int] | None = None,
    *,
    spec: KeypointSpec = DEFAULT_SPEC,
) -> dict[str, str]:
    """Every caption column of one example (keys of :data:`CAPTION_COLUMNS`); ``simple_joints`` None: the spec's."""
    simple = spec.ids(spec.default_simple_joints if simple_joints is None else simple_joints)
    return {
        name: column.render(np.asarray(points), np.asarray(visible), width, height, simple, spec=spec)
        for name, column in CAPTION_COLUMNS.items()
    }


def parse_pixels(
    captions: Sequence[str], column: str, sizes: np.ndarray | None = None, *, spec: KeypointSpec = DEFAULT_SPEC
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint pixels of the processed image from captions of a coordinate ``column``.

    Returns:
        xy float (N, K, 2), NaN where not found; found bool (N, K). ``sizes`` (N, 2) width, height: needed by
        formats in fractions of the image.
    """
    fmt = caption_column(column).format
    values, found = fmt.parse(captions, spec=spec)
    return fmt.to_pixels(values, sizes), found


def joint_spans(caption: str, column: str, *, spec: KeypointSpec = DEFAULT_SPEC) -> list[tuple[int, int] | None]:
    """Per keypoint (id order), the ``[start, end)`` characters of ``caption`` that column ``column``'s parser read
    for it (None: not found). Same rule as :func:`parse_pixels`: one table entry decides both."""
    fmt = caption_column(column).format
    if fmt.spans is None:
        raise ValueError(f"caption format {fmt.name!r} (column {column!r}) does not say where its joints are written")
    return fmt.spans(caption, spec=spec)
