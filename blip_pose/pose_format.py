"""The joint table and the caption format: the one place that defines both.

Every part of the project (dataset builder, trainer, metric, predictor) imports the joint list and the
render/parse functions from here, so a caption written by the builder is read back by exactly the same rule.

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
loc_text                   ``<loc123><loc356>...`` (32 tokens, MPII order)   render_loc / parse_loc_batch
=========================  ==============================================  ==========================

``loc_text`` is the compact format (PaliGemma / Pix2Seq style): x then y of every joint in MPII id order, each one
added tokenizer token ``<locN>`` for bin N of :data:`LOC_BINS` over the processed image, so names are implied and a
caption is 32 tokens + BOS/EOS (the method's text is ~82 with the presets' vocabulary, ~105 with BERT's WordPiece).
With ``LOC_BINS`` a multiple of the image side (384 and 128 px) whole pixels round-trip exactly.

Parsing reads what a model really emits after ``tokenizer.decode``: any case, spaces around ``:``, ``,`` and
``.`` (``"rankl : 123 , 356"``), ``"upper _ neck"``, joints missing, repeated (the first one counts) or out of
order, garbage between them, negative numbers. A number longer than :data:`MAX_DIGITS` digits counts as not
found rather than as a coordinate. Digits are ASCII ``0-9`` only, in every parser: a tokenizer writes no other, so
a full-width ``１０`` or Arabic-Indic ``١٠`` is garbage (not found), never a number one parser reads and another
rejects. Parsers never raise on model output: they return coordinates plus a
found-mask per joint.

To add a caption format: write its render and batch-parse functions here, add a :class:`CaptionFormat` to
:data:`CAPTION_FORMATS` and the columns that use it to :data:`CAPTION_COLUMNS`; the builder, trainer, metric,
predictor, card and presets' vocabulary follow from the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

# ----------------------------------------------------------------------------------------------------------------
# Joint table (official MPII ids). The method's write-up prints a table with ids 3<->5 and 9<->11 swapped; the
# official ids below are the ones the MPII annotation file uses.
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Joint:
    id: int
    name: str  # human-readable name
    caption: str  # token written in captions


JOINTS: tuple[Joint, ...] = (
    Joint(0, "right ankle", "rankl"),
    Joint(1, "right knee", "rknee"),
    Joint(2, "right hip", "rhip"),
    Joint(3, "left hip", "lhip"),
    Joint(4, "left knee", "lknee"),
    Joint(5, "left ankle", "lankl"),
    Joint(6, "pelvis", "pelvis"),
    Joint(7, "thorax", "thorax"),
    Joint(8, "upper neck", "upper_neck"),
    Joint(9, "head top", "head"),
    Joint(10, "right wrist", "rwri"),
    Joint(11, "right elbow", "relb"),
    Joint(12, "right shoulder", "rsho"),
    Joint(13, "left shoulder", "lsho"),
    Joint(14, "left elbow", "lelb"),
    Joint(15, "left wrist", "lwri"),
)
NUM_JOINTS = len(JOINTS)
JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in JOINTS)
CAPTION_NAMES: tuple[str, ...] = tuple(j.caption for j in JOINTS)
JOINT_ID: dict[str, int] = {j.caption: j.id for j in JOINTS}

#: Limbs drawn in overlays, as pairs of joint ids.
SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 6),
    (5, 4),
    (4, 3),
    (3, 6),  # legs
    (6, 7),
    (7, 8),
    (8, 9),  # trunk and head
    (10, 11),
    (11, 12),
    (12, 7),
    (15, 14),
    (14, 13),
    (13, 7),  # arms
)
#: Left/right pairs swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
#: Joints on each side of the body (the two halves of FLIP_PAIRS); the rest lie on the midline.
RIGHT_JOINTS: frozenset[int] = frozenset(r for r, _ in FLIP_PAIRS)
LEFT_JOINTS: frozenset[int] = frozenset(left for _, left in FLIP_PAIRS)
#: Id pairs that the method's write-up swaps in its joint table (documented, never applied).
PAPER_TABLE_SWAPS: tuple[tuple[int, int], ...] = ((3, 5), (9, 11))

DEFAULT_SIMPLE_JOINTS: tuple[str, ...] = ("upper_neck",)
#: Numbers with more digits than this are treated as garbage (a joint "found" at 10^7 px is not a prediction).
MAX_DIGITS = 6
#: The same bound for coordinates given as numbers: no pixel of any image lies this far out, and squaring anything
#: below it cannot overflow a float64 (1e200 or 1.7e308 "found" would make every mean error infinite).
MAX_COORDINATE = 10.0**MAX_DIGITS


def joint_ids(joints: Iterable[str | int] | None = None) -> list[int]:
    """Joint ids for caption names or ids (all 16 when ``joints`` is None), in MPII id order."""
    if joints is None:
        return list(range(NUM_JOINTS))
    ids = set()
    for j in joints:
        if isinstance(j, str):
            if j not in JOINT_ID:
                raise ValueError(f"unknown joint name {j!r}; expected one of {', '.join(CAPTION_NAMES)}")
            ids.add(JOINT_ID[j])
        elif isinstance(j, (int, np.integer)) and 0 <= int(j) < NUM_JOINTS:
            ids.add(int(j))
        else:
            raise ValueError(f"unknown joint id {j!r}; expected 0..{NUM_JOINTS - 1}")
    if not ids:
        raise ValueError("the joint subset is empty")
    return sorted(ids)


# ----------------------------------------------------------------------------------------------------------------
# Render
# ----------------------------------------------------------------------------------------------------------------


def _as_points(points: Sequence | np.ndarray, what: str = "points") -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != NUM_JOINTS or arr.shape[1] < 2:
        raise ValueError(f"{what} must have shape ({NUM_JOINTS}, 2) or ({NUM_JOINTS}, 3), got {arr.shape}")
    if not np.isfinite(arr[:, :2]).all():
        raise ValueError(f"{what} contain NaN or inf; a caption needs every rendered joint")
    return arr[:, :2]


def round_half_up(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves up (numpy's rint rounds halves to even)."""
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def render_coords(points: Sequence | np.ndarray, joints: Iterable[str | int] | None = None) -> str:
    """``"rankl:123,356 rknee:130,301 ..."``: integer pixels, joints in MPII id order.

    Args:
        points: array (16, 2) or (16, 3) of x, y (, visible) in the processed-image frame.
        joints: caption names or ids of the subset to write (all 16 by default).
    """
    xy = round_half_up(_as_points(points))
    return " ".join(f"{CAPTION_NAMES[j]}:{xy[j, 0]},{xy[j, 1]}" for j in joint_ids(joints))


def render_normalized(
    points: Sequence | np.ndarray, width: float, height: float, joints: Iterable[str | int] | None = None
) -> str:
    """``"rankl:0.320,0.927 ..."``: x/width and y/height with 3 decimals; every written joint must be in frame."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    ids = joint_ids(joints)
    norm = _as_points(points) / np.array([width, height], dtype=np.float64)
    sub = norm[ids]
    if (sub < 0).any() or (sub > 1).any():
        bad = [CAPTION_NAMES[j] for j in ids if not ((0 <= norm[j]) & (norm[j] <= 1)).all()]
        raise ValueError(f"joints {bad} lie outside the {width}x{height} image; normalized captions need [0, 1]")
    return " ".join(f"{CAPTION_NAMES[j]}:{norm[j, 0]:.3f},{norm[j, 1]:.3f}" for j in ids)


def render_visibility(visible: Sequence | np.ndarray, joints: Iterable[str | int] | None = None) -> str:
    """``"rankl:1 rknee:0 ..."``: 1 visible, 0 occluded, for the subset (all 16 by default)."""
    vis = np.asarray(visible)
    if vis.shape != (NUM_JOINTS,):
        raise ValueError(f"visibility must have shape ({NUM_JOINTS},), got {vis.shape}")
    if not np.isin(vis, (0, 1)).all():
        raise ValueError(f"visibility flags must be 0 or 1, got {sorted(set(vis.tolist()))}")
    return " ".join(f"{CAPTION_NAMES[j]}:{int(vis[j])}" for j in joint_ids(joints))


# ----------------------------------------------------------------------------------------------------------------
# Parse
# ----------------------------------------------------------------------------------------------------------------

# A joint name as decode writes it: any case, "upper_neck" possibly as "upper _ neck" or "upper neck".
# Atomic runs and no two whitespace runs side by side: no quantifier can hand characters to a
# neighbour, so a match attempt never backtracks over a run and any caption parses in linear time (two adjacent
# \s* made "rankl:" + 16000 spaces take seconds).
_WS = r"(?>\s*)"  # atomic: sre runs it as one fast scan, several times quicker than the possessive \s*+
_NAME_ALT = "|".join(n.replace("_", rf"{_WS}(?:_{_WS})?") for n in sorted(CAPTION_NAMES, key=len, reverse=True))
_NUM = rf"(?:-{_WS})?(?>\d+)(?:{_WS}\.{_WS}(?>\d+))?"
# re.ASCII: a digit is 0-9 and a space is ASCII whitespace, in every parser (see the module docstring).
_COORD_RE = re.compile(
    rf"(?<![a-z])({_NAME_ALT}){_WS}:{_WS}({_NUM}){_WS},{_WS}({_NUM})(?![\d.])", re.IGNORECASE | re.ASCII
)
_VIS_RE = re.compile(rf"(?<![a-z])({_NAME_ALT}){_WS}:{_WS}((?>\d+))(?!{_WS}[\d.,])", re.IGNORECASE | re.ASCII)
_NAME_KEY = {n.replace("_", ""): i for i, n in enumerate(CAPTION_NAMES)}
# The exact form render_coords writes for all 16 joints: parsed in bulk by parse_coords_batch.
_CANONICAL_RE = re.compile(
    " ".join(rf"{n}:-?\d{{1,{MAX_DIGITS}}},-?\d{{1,{MAX_DIGITS}}}" for n in CAPTION_NAMES), re.ASCII
)
# Deletes the names and spaces the separators of canonical captions, leaving only the numbers.
_NUMBERS_ONLY = str.maketrans({**{c: None for c in "abcdefghijklmnopqrstuvwxyz_"}, ":": " ", ",": " "})


def _joint_index(name: str) -> int:
    return _NAME_KEY[re.sub(r"[\s_]", "", name).lower()]


def _number(text: str) -> float | None:
    text = re.sub(r"\s", "", text, flags=re.ASCII)
    digits = text.lstrip("-").split(".")[0]
    if len(digits) > MAX_DIGITS:
        return None
    return float(text)


@dataclass
class ParsedPose:
    """Parser output. ``xy``: float (16, 2), NaN where not found; ``found``: bool (16,)."""

    xy: np.ndarray
    found: np.ndarray


def _coord_matches(caption: str) -> Iterator[tuple[int, re.Match[str], float, float]]:
    """``(joint, match, x, y)`` for each ``name:x,y`` that :func:`parse_coords` reads, in caption order."""
    if not isinstance(caption, str):
        return
    seen = set()
    for m in _COORD_RE.finditer(caption):
        j = _joint_index(m.group(1))
        if j in seen:
            continue  # a repeated joint: the first occurrence counts
        x, y = _number(m.group(2)), _number(m.group(3))
        if x is None or y is None:
            continue
        seen.add(j)
        yield j, m, x, y


def parse_coords(caption: str) -> ParsedPose:
    """Read ``name:x,y`` pairs (pixel or normalized numbers) from a caption; never raises on model output."""
    xy = np.full((NUM_JOINTS, 2), np.nan)
    found = np.zeros(NUM_JOINTS, dtype=bool)
    for j, _, x, y in _coord_matches(caption):
        xy[j] = (x, y)
        found[j] = True
    return ParsedPose(xy, found)


def coord_spans(caption: str) -> list[tuple[int, int] | None]:
    """Per joint (id order), the character span ``[start, end)`` of the ``name:x,y`` text :func:`parse_coords`
    reads for it; None where the joint is not found. Attention analyses label tokens with these spans."""
    spans: list[tuple[int, int] | None] = [None] * NUM_JOINTS
    for j, m, _, _ in _coord_matches(caption):
        spans[j] = m.span()
    return spans


def parse_normalized(caption: str, width: float, height: float) -> ParsedPose:
    """Parse a normalized caption and scale it back to pixels of a ``width`` x ``height`` image."""
    parsed = parse_coords(caption)
    parsed.xy = parsed.xy * np.array([width, height], dtype=np.float64)
    return parsed


def parse_visibility(caption: str) -> tuple[np.ndarray, np.ndarray]:
    """``(visible int (16,), found bool (16,))`` from a visibility caption; values other than 0/1 are not found."""
    vis = np.zeros(NUM_JOINTS, dtype=np.int64)
    found = np.zeros(NUM_JOINTS, dtype=bool)
    if not isinstance(caption, str):
        return vis, found
    for m in _VIS_RE.finditer(caption):
        j = _joint_index(m.group(1))
        if found[j] or m.group(2) not in ("0", "1"):
            continue
        vis[j] = int(m.group(2))
        found[j] = True
    return vis, found


def _undo_decode_spacing(caption: str) -> str:
    """``"rankl : 12, 3 upper _ neck : ..."`` (a WordPiece decode) -> ``"rankl:12,3 upper_neck:..."``.

    Plain replaces are ~20x cheaper than a regex here; anything they do not fix falls back to the full parser.
    """
    return (
        caption.lower()
        .replace(" : ", ":")
        .replace(" , ", ",")
        .replace(", ", ",")
        .replace(" _ ", "_")
        .replace("- ", "-")
    )


def parse_coords_batch(captions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parse many pixel or normalized captions at once.

    Captions in the exact form :func:`render_coords` writes for all 16 joints (also after a tokenizer decode put
    spaces around ``:`` ``,`` ``_``) are converted in one numpy call; the rest go through :func:`parse_coords`.
    Same result as calling it on each caption.

    Returns:
        xy: float array (N, 16, 2), NaN where not found; found: bool array (N, 16).
    """
    n = len(captions)
    xy = np.full((n, NUM_JOINTS, 2), np.nan)
    found = np.zeros((n, NUM_JOINTS), dtype=bool)
    canonical, texts = [], []
    for i, c in enumerate(captions):
        if not isinstance(c, str) or not c.isascii():  # str.lower() maps some non-ASCII letters to ASCII ones
            continue
        if not _CANONICAL_RE.fullmatch(c):
            c = _undo_decode_spacing(c)
            if not _CANONICAL_RE.fullmatch(c):
                continue
        canonical.append(i)
        texts.append(c)
    if canonical:
        flat = " ".join(texts).translate(_NUMBERS_ONLY)
        values = np.fromstring(flat, sep=" ")  # text mode: the fastest str -> float64 path numpy has
        xy[canonical] = values.reshape(len(canonical), NUM_JOINTS, 2)
        found[canonical] = True
    is_canonical = np.zeros(n, dtype=bool)
    is_canonical[canonical] = True
    for k in np.flatnonzero(~is_canonical):
        parsed = parse_coords(captions[int(k)])
        xy[k], found[k] = parsed.xy, parsed.found
    return xy, found


#: Bins of a loc token over the processed image's width (x) or height (y): one per pixel at the method's 384 px.
LOC_BINS = 384
LOC_TOKENS: tuple[str, ...] = tuple(f"<loc{i}>" for i in range(LOC_BINS))
_LOC_RE = re.compile(r"<\s*loc\s*(\d+)\s*>", re.IGNORECASE | re.ASCII)


def render_loc(points: Sequence | np.ndarray, width: float, height: float) -> str:
    """``"<loc123><loc356>..."``: bin ``round(x / width * LOC_BINS)`` then y, for all 16 joints in MPII id order."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    norm = _as_points(points) / np.array([width, height], dtype=np.float64)
    outside = ((norm < 0) | (norm > 1)).any(axis=1)
    if outside.any():
        bad = [CAPTION_NAMES[j] for j in np.flatnonzero(outside)]
        raise ValueError(f"joints {bad} lie outside the {width}x{height} image; loc captions need them inside")
    bins = np.minimum(round_half_up(norm * LOC_BINS), LOC_BINS - 1)  # x == width is the last pixel's far edge
    return "".join(LOC_TOKENS[b] for b in bins.reshape(-1))


def parse_loc_batch(captions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Loc captions -> ``(fractions (N, 16, 2), found (N, 16))``: the first 32 loc tokens, x then y per joint.

    A joint is found when both its tokens are there and are bins below :data:`LOC_BINS`; anything between tokens
    (decode spaces, garbage) is ignored.
    """
    values = np.full((len(captions), NUM_JOINTS, 2), np.nan)
    found = np.zeros((len(captions), NUM_JOINTS), dtype=bool)
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            continue
        bins = [int(b) if len(b) <= MAX_DIGITS else LOC_BINS for b in _LOC_RE.findall(caption)[: 2 * NUM_JOINTS]]
        bins += [LOC_BINS] * (2 * NUM_JOINTS - len(bins))  # missing tokens: out of range, so not found
        pairs = np.asarray(bins, dtype=np.float64).reshape(NUM_JOINTS, 2)
        ok = (pairs < LOC_BINS).all(axis=1)
        values[i][ok] = pairs[ok] / LOC_BINS
        found[i] = ok
    return values, found


def loc_spans(caption: str) -> list[tuple[int, int] | None]:
    """Per joint, the characters of its two loc tokens (x through y) as :func:`parse_loc_batch` reads them."""
    tokens = list(_LOC_RE.finditer(caption))[: 2 * NUM_JOINTS] if isinstance(caption, str) else []
    spans: list[tuple[int, int] | None] = [None] * NUM_JOINTS
    for j in range(len(tokens) // 2):
        x, y = tokens[2 * j], tokens[2 * j + 1]
        if all(len(t.group(1)) <= MAX_DIGITS and int(t.group(1)) < LOC_BINS for t in (x, y)):
            spans[j] = (x.start(), y.end())
    return spans


# ----------------------------------------------------------------------------------------------------------------
# The caption-column table: every other module asks it which columns carry coordinates, which joints a column
# writes, and how to render and parse it. A new caption format is one CaptionFormat plus the columns that use it.
# ----------------------------------------------------------------------------------------------------------------

#: ``render(xy (16, 2), visible (16,), width, height, joint ids) -> caption``.
RenderFn = Callable[[np.ndarray, np.ndarray, float, float, Sequence[int]], str]
#: ``parse(captions) -> (values (N, 16, 2) in the format's own unit, found (N, 16))``.
ParseFn = Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]]
#: ``spans(caption) -> per joint the [start, end) characters its parser read, None where not found``.
SpanFn = Callable[[str], list[tuple[int, int] | None]]


def _parse_visibility_batch(captions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    flags = [parse_visibility(c) for c in captions]
    values = np.zeros((len(captions), NUM_JOINTS, 2))
    found = np.zeros((len(captions), NUM_JOINTS), dtype=bool)
    for i, (vis, ok) in enumerate(flags):
        values[i, :, 0], found[i] = vis, ok
    return values, found


@dataclass(frozen=True)
class CaptionFormat:
    """How one kind of caption writes joints and reads them back.

    ``unit``: ``"pixel"`` (integer pixels of the processed image), ``"fraction"`` (x/width, y/height) or ``"flag"``
    (visibility 0/1 in ``values[..., 0]``). ``words``: the number words its captions contain, which a caption
    tokenizer must hold as whole tokens (the presets build their vocabulary from them). ``spans``: where in a
    caption ``parse`` read each joint (None: the format does not say).
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
        """Parsed values (N, 16, 2) -> pixels of the processed image; ``sizes`` (N, 2) width, height."""
        if self.unit == "fraction":
            if sizes is None:
                raise ValueError(f"{self.name} captions need the image sizes to give pixels")
            return values * np.asarray(sizes, dtype=np.float64)[:, None, :]
        return values

    def impossible(self, values: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, str]:
        """``(bad (N, 16), symptom)``: values a caption of this format never holds (for checking references)."""
        if self.unit == "fraction":
            return found & ((values < 0) | (values > 1)).any(axis=-1), "values outside [0, 1]"
        if self.unit == "pixel":
            return found & (values != np.floor(values)).any(axis=-1), "non-integer pixel values"
        return found & ~np.isin(values[..., 0], (0, 1)), "flags other than 0/1"


@dataclass(frozen=True)
class CaptionColumn:
    """A dataset column of captions: its format and its joints (all 16, or the dataset's simple subset)."""

    name: str
    format: CaptionFormat
    simple: bool = False

    def render(
        self,
        points: np.ndarray,
        visible: np.ndarray,
        width: float,
        height: float,
        simple_joints: Iterable[str | int] = DEFAULT_SIMPLE_JOINTS,
    ) -> str:
        ids = joint_ids(simple_joints if self.simple else None)
        return self.format.render(np.asarray(points), np.asarray(visible), width, height, ids)


PIXEL = CaptionFormat(
    "pixel",
    "pixel",
    lambda xy, vis, w, h, ids: render_coords(xy, ids),
    parse_coords_batch,
    words=tuple(str(i) for i in range(1000)),
    spans=coord_spans,
)
NORMALIZED = CaptionFormat(
    "normalized",
    "fraction",
    lambda xy, vis, w, h, ids: render_normalized(xy, w, h, ids),
    parse_coords_batch,
    # Zero-padded decimals ("0.050" -> "0", ".", "050"); the others are pixel numbers.
    words=(*(f"{i:02d}" for i in range(10)), *(f"{i:03d}" for i in range(100))),
    spans=coord_spans,
)
VISIBILITY = CaptionFormat(
    "visibility", "flag", lambda xy, vis, w, h, ids: render_visibility(vis, ids), _parse_visibility_batch
)
LOC = CaptionFormat(
    "loc", "fraction", lambda xy, vis, w, h, ids: render_loc(xy, w, h), parse_loc_batch, spans=loc_spans
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
    simple_joints: Iterable[str | int] = DEFAULT_SIMPLE_JOINTS,
) -> dict[str, str]:
    """Every caption column of one example (keys of :data:`CAPTION_COLUMNS`)."""
    simple = joint_ids(simple_joints)
    return {
        name: column.render(np.asarray(points), np.asarray(visible), width, height, simple)
        for name, column in CAPTION_COLUMNS.items()
    }


def parse_pixels(
    captions: Sequence[str], column: str, sizes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Joint pixels of the processed image from captions of a coordinate ``column``.

    Returns:
        xy float (N, 16, 2), NaN where not found; found bool (N, 16). ``sizes`` (N, 2) width, height: needed by
        formats in fractions of the image.
    """
    fmt = caption_column(column).format
    values, found = fmt.parse(captions)
    return fmt.to_pixels(values, sizes), found


def joint_spans(caption: str, column: str) -> list[tuple[int, int] | None]:
    """Per joint (id order), the ``[start, end)`` characters of ``caption`` that column ``column``'s parser read
    for it (None: not found). Same rule as :func:`parse_pixels`: one table entry decides both."""
    fmt = caption_column(column).format
    if fmt.spans is None:
        raise ValueError(f"caption format {fmt.name!r} (column {column!r}) does not say where its joints are written")
    return fmt.spans(caption)
