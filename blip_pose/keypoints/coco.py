"""COCO's 17 person keypoints, and a keypoint set from any COCO-keypoints category (your own keypoints).

A COCO category names its keypoints and a 1-based skeleton; :func:`spec_from_coco_category` turns it into a
:class:`KeypointSpec`: caption tokens sanitised from the names, the skeleton made 0-based, (right, left) flip pairs
read off ``left_``/``right_`` names, and OKS sigmas (COCO's for COCO's names, :data:`DEFAULT_SIGMA` otherwise).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from blip_pose.keypoints.spec import KeypointSpec

#: COCO person keypoints in the annotation files' order (``categories[0].keypoints`` of person_keypoints_*.json).
COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip
#: COCO's person skeleton as the annotation files write it (1-based keypoint ids).
COCO17_SKELETON_1BASED = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9), (8, 10), (9, 11),
    (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip
#: Per-keypoint OKS sigmas of COCO-17 (pycocotools' ``kpt_oks_sigmas``).
COCO17_SIGMAS = tuple(
    s / 10.0 for s in (0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
                       0.89, 0.89)
)  # fmt: skip
#: OKS sigma of a keypoint of a set without its own: the mean COCO-17 sigma (about 0.067), so an unknown keypoint is
#: graded like an average body joint whatever the set's size (Ultralytics' ``1/K`` would grade 5 points at 0.2 and
#: 68 at 0.015). Pass measured sigmas (``sigmas=``) when you have them: OKS, and so AP, depends on them.
DEFAULT_SIGMA = round(sum(COCO17_SIGMAS) / len(COCO17_SIGMAS), 4)

COCO17 = KeypointSpec(
    name="coco17",
    names=COCO17_NAMES,
    captions=COCO17_NAMES,
    skeleton=tuple((a - 1, b - 1) for a, b in COCO17_SKELETON_1BASED),
    flip_pairs=tuple((i + 1, i) for i in range(1, 17, 2)),  # (right_x, left_x): COCO lists each left before right
    normalizer="person",
    sigmas=COCO17_SIGMAS,
)

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
#: Side words a keypoint name starts or ends with (``left_eye``, ``l_paw``, ``eye_left``): each maps to its side.
_SIDE_WORDS = {"right": "r", "r": "r", "left": "l", "l": "l"}


def _number_words(digits: str, where: str) -> str:
    """``"7"`` -> ``"seven"``, ``"21"`` -> ``"twenty_one"``: caption tokens hold letters only (numbers are values)."""
    n = int(digits)
    if n >= 100:
        raise ValueError(f"{where}: numbers in keypoint names must be below 100 to be spelled as words, got {digits}")
    if n < 20:
        return _ONES[n]
    return _TENS[n // 10] + ("" if n % 10 == 0 else "_" + _ONES[n % 10])


def caption_token(name: str, where: str = "keypoint name") -> str:
    """A keypoint name as a caption token: ASCII-folded, lowercase, every run of other characters (spaces,
    hyphens, dots) one ``_``, digits spelled as English words (``"finger 2"`` -> ``"finger_two"``, ``"kp10"`` ->
    ``"kp_ten"``). Spelled, not refused, because tool-made sets number their points; numbers of 100 or more are
    refused (no caption reads better for them than a real name)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    spaced = re.sub(r"\d+", lambda m: f"_{_number_words(m.group(), where)}_", folded)
    token = re.sub(r"[^a-z]+", "_", spaced).strip("_")
    if not token:
        raise ValueError(f"{where}: keypoint name {name!r} has no letters or digits to make a caption token of")
    return token


def infer_flip_pairs(captions: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(right, left) id pairs of tokens that differ only in a side word at either end: ``right_eye``/``left_eye``,
    ``r_paw``/``l_paw``, ``eye_right``/``eye_left`` (names with spaces or hyphens reach here as ``_`` tokens)."""
    sides: dict[tuple[str, str, str], int] = {}
    for i, token in enumerate(captions):
        words = token.split("_")
        if len(words) < 2:
            continue
        for end, word, rest in (("start", words[0], words[1:]), ("end", words[-1], words[:-1])):
            if word in _SIDE_WORDS:
                style = end + ("short" if len(word) == 1 else "long")
                sides.setdefault((style, "_".join(rest), _SIDE_WORDS[word]), i)
    pairs = []
    used: set[int] = set()
    for (style, stem, side), right in sorted(sides.items(), key=lambda item: item[1]):
        left = sides.get((style, stem, "l"))
        if side == "r" and left is not None and not {right, left} & used:
            pairs.append((right, left))
            used.update((right, left))
    return tuple(pairs)


def spec_from_coco_category(
    category: Mapping[str, Any],
    flip_pairs: Sequence[Sequence[int]] | None = None,
    sigmas: Sequence[float] | None = None,
    where: str = "category",
) -> KeypointSpec:
    """The keypoint set of one COCO category (``{"name", "keypoints": [names], "skeleton": [[a, b], ...]}``).

    Args:
        category: the category mapping of a COCO-keypoints JSON; its ``skeleton`` is 1-based, as COCO's.
        flip_pairs: (right, left) 0-based id pairs; None infers them from the names (:func:`infer_flip_pairs`).
        sigmas: per-keypoint OKS sigmas; None takes COCO-17's for COCO's names, else :data:`DEFAULT_SIGMA` each.
        where: the file or field named in errors.

    Returns :data:`COCO17` itself for COCO's person category (same names, skeleton and flip pairs), so real COCO
    data is the registered ``coco17`` set. Any other set is named after the category and normalised by the person
    box (``"person"``: PCK by the box's larger side).
    """
    label = f"{where} {category.get('name', '?')!r}"
    names = category.get("keypoints")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{label}: 'keypoints' must be a non-empty list of keypoint names")
    if len(set(names)) != len(names):
        raise ValueError(f"{label}: 'keypoints' names a keypoint twice: {names}")
    k = len(names)
    captions = [caption_token(n, f"{label} keypoints") for n in names]
    clashes = sorted({c for c in captions if [d.replace("_", "") for d in captions].count(c.replace("_", "")) > 1})
    if clashes:
        raise ValueError(f"{label}: keypoint names {names} give the same caption token twice ({clashes})")
    skeleton_1based = category.get("skeleton") or []
    skeleton = []
    for pair in skeleton_1based:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(i, int) for i in pair)):
            raise ValueError(f"{label}: skeleton entry {pair!r} is not a pair of keypoint ids")
        if not all(1 <= i <= k for i in pair) or pair[0] == pair[1]:
            raise ValueError(
                f"{label}: skeleton pair {list(pair)} is not two distinct ids in 1..{k} (COCO skeletons are 1-based)"
            )
        skeleton.append((pair[0] - 1, pair[1] - 1))
    pairs = infer_flip_pairs(captions) if flip_pairs is None else tuple((int(a), int(b)) for a, b in flip_pairs)
    is_coco = tuple(captions) == COCO17.captions
    if sigmas is None:
        sigmas = COCO17_SIGMAS if is_coco else (DEFAULT_SIGMA,) * k
    if is_coco and tuple(skeleton) == COCO17.skeleton and pairs == COCO17.flip_pairs and tuple(sigmas) == COCO17.sigmas:
        return COCO17
    try:
        return KeypointSpec(
            name=str(category.get("name") or "keypoints"),
            names=tuple(names),
            captions=tuple(captions),
            skeleton=tuple(skeleton),
            flip_pairs=pairs,
            normalizer="person",
            sigmas=tuple(float(s) for s in sigmas),
        )
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
