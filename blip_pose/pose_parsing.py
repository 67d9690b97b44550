"""Reading captions back: the parsers behind :mod:`blip_pose.pose_format`'s caption table, per keypoint set.

Parsing reads what a model really emits after ``tokenizer.decode``: any case, spaces around ``:``, ``,`` and
``.`` (``"rankl : 123 , 356"``), ``"upper _ neck"``, keypoints missing, repeated (the first one counts) or out of
order, garbage between them, negative numbers. A number longer than :data:`MAX_DIGITS` digits counts as not
found rather than as a coordinate. Digits are ASCII ``0-9`` only, in every parser: a tokenizer writes no other, so
a full-width ``１０`` or Arabic-Indic ``١٠`` is garbage (not found), never a number one parser reads and another
rejects. Parsers never raise on model output: they return coordinates plus a found-mask per keypoint.

Every parser takes ``spec`` (the :class:`~blip_pose.keypoints.KeypointSpec` whose caption tokens it reads; MPII-16
by default); its regexes are compiled once per spec (:func:`grammar`). Shapes: K keypoints, N captions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec

#: Numbers with more digits than this are treated as garbage (a joint "found" at 10^7 px is not a prediction).
MAX_DIGITS = 6
#: The same bound for coordinates given as numbers: no pixel of any image lies this far out, and squaring anything
#: below it cannot overflow a float64 (1e200 or 1.7e308 "found" would make every mean error infinite).
MAX_COORDINATE = 10.0**MAX_DIGITS
#: Bins of a loc token over the processed image's width (x) or height (y): one per pixel at the method's 384 px.
LOC_BINS = 384
_LOC_RE = re.compile(r"<\s*loc\s*(\d+)\s*>", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class LocVocabulary:
    """The tokens a model writes ``loc_text`` coordinates with: ``bins`` bins over the processed image's side, bin
    ``i`` spelled ``prefix + str(i).zfill(digits) + suffix``.

    Datasets hold ``loc_text`` in the project's spelling (:data:`DEFAULT_LOC_VOCABULARY`: ``<locN>``, N < 384, the
    tokens :func:`blip_pose.loc_tokens.add_loc_tokens` adds), built without knowing the model, and every parser
    reads that spelling. A model whose tokenizer has loc tokens of its own reads and writes those, translated at its
    edges by nearest bin: the collator and the caption-length check tokenize ``encode(caption)``, the caption
    grammar allows :attr:`tokens`, and the decoded captions of evaluation and the predictor are ``decode``-d back
    before parsing. With ``bins >= LOC_BINS`` every project bin (so every whole pixel of a 384 px image) comes back
    exactly.

    A family plugs in by overriding :meth:`blip_pose.models.CaptionerFamily.loc_vocabulary` to return its vocabulary
    (PaliGemma: ``LocVocabulary(1024, "<loc", 4, ">")``; Florence-2: ``LocVocabulary(1000, "<loc_")``); its
    tokenizer already holds the tokens, so nothing is added.
    """

    bins: int
    prefix: str = "<loc"
    digits: int = 0  # zero-padded width of the bin number (0: none)
    suffix: str = ">"

    def token(self, i: int) -> str:
        """Bin ``i``'s token."""
        return f"{self.prefix}{str(i).zfill(self.digits)}{self.suffix}"

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token, bin order."""
        return tuple(self.token(i) for i in range(self.bins))

    def encode(self, caption: str) -> str:
        """A caption in the project's spelling with its loc tokens in this vocabulary's (other text unchanged)."""
        if self == DEFAULT_LOC_VOCABULARY:
            return caption
        return _PROJECT_TOKEN.sub(self._from_project, caption)

    def decode(self, caption: str) -> str:
        """A decoded caption with this vocabulary's loc tokens in the project's spelling (out-of-range bins and other
        text unchanged), for the parsers."""
        if self == DEFAULT_LOC_VOCABULARY:
            return caption
        return self._pattern().sub(self._to_project, caption)

    def _pattern(self) -> re.Pattern[str]:
        return _compiled(rf"{re.escape(self.prefix)}(\d+){re.escape(self.suffix)}")

    def _from_project(self, match: re.Match[str]) -> str:
        value = int(match.group(1))
        return self.token(_rebin(value, LOC_BINS, self.bins)) if value < LOC_BINS else match.group(0)

    def _to_project(self, match: re.Match[str]) -> str:
        value = int(match.group(1)) if len(match.group(1)) <= MAX_DIGITS else self.bins
        return LOC_TOKENS[_rebin(value, self.bins, LOC_BINS)] if value < self.bins else match.group(0)


def _rebin(value: int, bins: int, into: int) -> int:
    """Bin ``value`` of ``bins`` as the nearest of ``into`` bins over the same side (halves up; integer math)."""
    return min((2 * value * into + bins) // (2 * bins), into - 1)


@functools.lru_cache(maxsize=8)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


#: The project's own loc tokens: ``<locN>`` for bin N of :data:`LOC_BINS` (one per pixel at the method's 384 px).
DEFAULT_LOC_VOCABULARY = LocVocabulary(LOC_BINS)
LOC_TOKENS: tuple[str, ...] = DEFAULT_LOC_VOCABULARY.tokens
_PROJECT_TOKEN = re.compile(r"<loc(\d{1,3})>", re.ASCII)

# Atomic runs and no two whitespace runs side by side: no quantifier can hand characters to a neighbour, so a
# match attempt never backtracks over a run and any caption parses in linear time (two adjacent \s* made
# "rankl:" + 16000 spaces take seconds).
_WS = r"(?>\s*)"  # atomic: sre runs it as one fast scan, several times quicker than the possessive \s*+
_NUM = rf"(?:-{_WS})?(?>\d+)(?:{_WS}\.{_WS}(?>\d+))?"
# Deletes the names and spaces the separators of canonical captions, leaving only the numbers.
_NUMBERS_ONLY = str.maketrans({**{c: None for c in "abcdefghijklmnopqrstuvwxyz_"}, ":": " ", ",": " "})


@dataclass(frozen=True)
class Grammar:
    """One keypoint set's compiled caption regexes (build with :func:`grammar`, which caches them per spec)."""

    num_keypoints: int
    coord: re.Pattern[str]
    visibility: re.Pattern[str]
    canonical: re.Pattern[str]  # the exact form render_coords writes for every keypoint
    name_key: dict[str, int]

    def joint_index(self, name: str) -> int:
        """Id of a name as decode wrote it (any case, ``upper _ neck``)."""
        return self.name_key[re.sub(r"[\s_]", "", name).lower()]


@functools.lru_cache(maxsize=32)
def grammar(spec: KeypointSpec = DEFAULT_SPEC) -> Grammar:
    """The regexes reading ``spec``'s captions, compiled once per (frozen, hashable) spec."""
    # A name as decode writes it: any case, "upper_neck" possibly as "upper _ neck" or "upper neck".
    names = "|".join(n.replace("_", rf"{_WS}(?:_{_WS})?") for n in sorted(spec.captions, key=len, reverse=True))
    # re.ASCII: a digit is 0-9 and a space is ASCII whitespace, in every parser (see the module docstring).
    flags = re.IGNORECASE | re.ASCII
    return Grammar(
        num_keypoints=spec.num_keypoints,
        coord=re.compile(rf"(?<![a-z])({names}){_WS}:{_WS}({_NUM}){_WS},{_WS}({_NUM})(?![\d.])", flags),
        visibility=re.compile(rf"(?<![a-z])({names}){_WS}:{_WS}((?>\d+))(?!{_WS}[\d.,])", flags),
        canonical=re.compile(
            " ".join(rf"{n}:-?\d{{1,{MAX_DIGITS}}},-?\d{{1,{MAX_DIGITS}}}" for n in spec.captions), re.ASCII
        ),
        name_key={n.replace("_", ""): i for i, n in enumerate(spec.captions)},
    )


def _number(text: str) -> float | None:
    text = re.sub(r"\s", "", text, flags=re.ASCII)
    digits = text.lstrip("-").split(".")[0]
    if len(digits) > MAX_DIGITS:
        return None
    return float(text)


@dataclass
class ParsedPose:
    """Parser output. ``xy``: float (K, 2), NaN where not found; ``found``: bool (K,)."""

    xy: np.ndarray
    found: np.ndarray


def _coord_matches(caption: str, rules: Grammar) -> Iterator[tuple[int, re.Match[str], float, float]]:
    """``(joint, match, x, y)`` for each ``name:x,y`` that :func:`parse_coords` reads, in caption order."""
    if not isinstance(caption, str):
        return
    seen = set()
    for m in rules.coord.finditer(caption):
        j = rules.joint_index(m.group(1))
        if j in seen:
            continue  # a repeated joint: the first occurrence counts
        x, y = _number(m.group(2)), _number(m.group(3))
        if x is None or y is None:
            continue
        seen.add(j)
        yield j, m, x, y


def _parse_coords(caption: str, rules: Grammar) -> ParsedPose:
    xy = np.full((rules.num_keypoints, 2), np.nan)
    found = np.zeros(rules.num_keypoints, dtype=bool)
    for j, _, x, y in _coord_matches(caption, rules):
        xy[j] = (x, y)
        found[j] = True
    return ParsedPose(xy, found)


def parse_coords(caption: str, *, spec: KeypointSpec = DEFAULT_SPEC) -> ParsedPose:
    """Read ``name:x,y`` pairs (pixel or normalized numbers) from a caption; never raises on model output."""
    return _parse_coords(caption, grammar(spec))


def coord_spans(caption: str, *, spec: KeypointSpec = DEFAULT_SPEC) -> list[tuple[int, int] | None]:
    """Per keypoint (id order), the character span ``[start, end)`` of the ``name:x,y`` text :func:`parse_coords`
    reads for it; None where the keypoint is not found. Attention analyses label tokens with these spans."""
    spans: list[tuple[int, int] | None] = [None] * spec.num_keypoints
    for j, m, _, _ in _coord_matches(caption, grammar(spec)):
        spans[j] = m.span()
    return spans


def parse_normalized(caption: str, width: float, height: float, *, spec: KeypointSpec = DEFAULT_SPEC) -> ParsedPose:
    """Parse a normalized caption and scale it back to pixels of a ``width`` x ``height`` image."""
    parsed = parse_coords(caption, spec=spec)
    parsed.xy = parsed.xy * np.array([width, height], dtype=np.float64)
    return parsed


def parse_visibility(caption: str, *, spec: KeypointSpec = DEFAULT_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """``(visible int (K,), found bool (K,))`` from a visibility caption; values other than 0/1 are not found."""
    rules = grammar(spec)
    vis = np.zeros(rules.num_keypoints, dtype=np.int64)
    found = np.zeros(rules.num_keypoints, dtype=bool)
    if not isinstance(caption, str):
        return vis, found
    for m in rules.visibility.finditer(caption):
        j = rules.joint_index(m.group(1))
        if found[j] or m.group(2) not in ("0", "1"):
            continue
        vis[j] = int(m.group(2))
        found[j] = True
    return vis, found


def parse_visibility_batch(
    captions: Sequence[str], *, spec: KeypointSpec = DEFAULT_SPEC
) -> tuple[np.ndarray, np.ndarray]:
    """Visibility captions -> ``(flags in values[..., 0] (N, K, 2), found (N, K))``, the caption table's shape."""
    values = np.zeros((len(captions), spec.num_keypoints, 2))
    found = np.zeros((len(captions), spec.num_keypoints), dtype=bool)
    for i, caption in enumerate(captions):
        values[i, :, 0], found[i] = parse_visibility(caption, spec=spec)
    return values, found


def undo_decode_spacing(caption: str) -> str:
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


def parse_coords_batch(captions: Sequence[str], *, spec: KeypointSpec = DEFAULT_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """Parse many pixel or normalized captions at once.

    Captions in the exact form :func:`~blip_pose.pose_format.render_coords` writes for every keypoint (also after a
    tokenizer decode put spaces around ``:`` ``,`` ``_``) are converted in one numpy call; the rest go through
    :func:`parse_coords`. Same result as calling it on each caption.

    Returns:
        xy: float array (N, K, 2), NaN where not found; found: bool array (N, K).
    """
    rules = grammar(spec)
    n, k = len(captions), rules.num_keypoints
    xy = np.full((n, k, 2), np.nan)
    found = np.zeros((n, k), dtype=bool)
    canonical, texts = [], []
    for i, c in enumerate(captions):
        if not isinstance(c, str) or not c.isascii():  # str.lower() maps some non-ASCII letters to ASCII ones
            continue
        if not rules.canonical.fullmatch(c):
            c = undo_decode_spacing(c)
            if not rules.canonical.fullmatch(c):
                continue
        canonical.append(i)
        texts.append(c)
    if canonical:
        flat = " ".join(texts).translate(_NUMBERS_ONLY)
        values = np.fromstring(flat, sep=" ")  # text mode: the fastest str -> float64 path numpy has
        xy[canonical] = values.reshape(len(canonical), k, 2)
        found[canonical] = True
    is_canonical = np.zeros(n, dtype=bool)
    is_canonical[canonical] = True
    for row in np.flatnonzero(~is_canonical):
        parsed = _parse_coords(captions[int(row)], rules)
        xy[row], found[row] = parsed.xy, parsed.found
    return xy, found


def parse_loc_batch(captions: Sequence[str], *, spec: KeypointSpec = DEFAULT_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """Loc captions -> ``(fractions (N, K, 2), found (N, K))``: the first 2K loc tokens, x then y per keypoint.

    A keypoint is found when both its tokens are there and are bins below :data:`LOC_BINS`; anything between
    tokens (decode spaces, garbage) is ignored.
    """
    k = spec.num_keypoints
    values = np.full((len(captions), k, 2), np.nan)
    found = np.zeros((len(captions), k), dtype=bool)
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            continue
        bins = [int(b) if len(b) <= MAX_DIGITS else LOC_BINS for b in _LOC_RE.findall(caption)[: 2 * k]]
        bins += [LOC_BINS] * (2 * k - len(bins))  # missing tokens: out of range, so not found
        pairs = np.asarray(bins, dtype=np.float64).reshape(k, 2)
        ok = (pairs < LOC_BINS).all(axis=1)
        values[i][ok] = pairs[ok] / LOC_BINS
        found[i] = ok
    return values, found


def loc_spans(caption: str, *, spec: KeypointSpec = DEFAULT_SPEC) -> list[tuple[int, int] | None]:
    """Per keypoint, the characters of its two loc tokens (x through y) as :func:`parse_loc_batch` reads them."""
    k = spec.num_keypoints
    tokens = list(_LOC_RE.finditer(caption))[: 2 * k] if isinstance(caption, str) else []
    spans: list[tuple[int, int] | None] = [None] * k
    for j in range(len(tokens) // 2):
        x, y = tokens[2 * j], tokens[2 * j + 1]
        if all(len(t.group(1)) <= MAX_DIGITS and int(t.group(1)) < LOC_BINS for t in (x, y)):
            spans[j] = (x.start(), y.end())
    return spans
