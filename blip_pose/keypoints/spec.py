"""A keypoint set as a value: names, caption tokens, skeleton, flip pairs and how PCK is normalised.

Every module that writes, reads, scores or draws joints takes a :class:`KeypointSpec` instead of module constants,
so a dataset of hands, animals or machines goes through the same code as MPII's 16 joints. The spec travels as JSON:
in the dataset card's YAML (key :data:`KEYPOINTS_CARD_KEY`) and beside a saved model (:data:`KEYPOINTS_FILE`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: File beside a saved model (and a run's output folder) holding its keypoint set.
KEYPOINTS_FILE = "keypoints.json"
#: Key of the dataset card's YAML holding the keypoint set its captions are written for.
KEYPOINTS_CARD_KEY = "pose_keypoints"
#: What PCK divides errors by: MPII's head size (0.6 x head-box diagonal) or the person box's larger side.
NORMALIZERS = ("head", "person")
#: A caption token: lowercase words joined by ``_``. Letters only, so numbers in captions are never names.
CAPTION_TOKEN = re.compile(r"[a-z]+(?:_[a-z]+)*")


@dataclass(frozen=True)
class KeypointSpec:
    """One keypoint set; ids are positions in ``captions``.

    Args:
        name: registry name (``"mpii16"``).
        names: human-readable names, one per keypoint.
        captions: tokens written in captions (:data:`CAPTION_TOKEN`); unique also with ``_`` removed, because a
            decoded caption may write ``upper_neck`` as ``upper neck``.
        skeleton: limbs drawn in overlays, as id pairs.
        flip_pairs: (right, left) id pairs swapped by a horizontal flip.
        normalizer: ``"head"`` (PCKh, MPII) or ``"person"`` (PCK by the person box).
        mean_excluded: ids left out of the mean PCK (MPII leaves out pelvis and thorax).
        sigmas: per-keypoint OKS sigmas (COCO), None where the set has none.
        simple_joints: the default joint subset of the one-joint ``simple`` captions.
    """

    name: str
    names: tuple[str, ...]
    captions: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()
    normalizer: str = "person"
    mean_excluded: tuple[int, ...] = ()
    sigmas: tuple[float, ...] | None = None
    simple_joints: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        k = len(self.captions)
        where = f"keypoint set {self.name!r}"
        if not self.name:
            raise ValueError("a keypoint set needs a name")
        if k == 0:
            raise ValueError(f"{where} has no keypoints")
        if len(self.names) != k:
            raise ValueError(f"{where}: {len(self.names)} names for {k} caption tokens")
        bad = [c for c in self.captions if not CAPTION_TOKEN.fullmatch(c)]
        if bad:
            raise ValueError(f"{where}: caption tokens {bad} are not lowercase words joined by '_'")
        squeezed = [c.replace("_", "") for c in self.captions]
        if len(set(squeezed)) != k:
            raise ValueError(f"{where}: caption tokens are not unique (with '_' removed): {list(self.captions)}")
        for what, pairs in (("skeleton", self.skeleton), ("flip_pairs", self.flip_pairs)):
            for a, b in pairs:
                if not (0 <= a < k and 0 <= b < k) or a == b:
                    raise ValueError(f"{where}: {what} pair ({a}, {b}) is not two distinct ids in 0..{k - 1}")
        flipped = [i for pair in self.flip_pairs for i in pair]
        if len(set(flipped)) != len(flipped):
            raise ValueError(f"{where}: a keypoint is in two flip pairs")
        if self.normalizer not in NORMALIZERS:
            raise ValueError(f"{where}: normalizer must be one of {NORMALIZERS}, got {self.normalizer!r}")
        if any(not 0 <= i < k for i in self.mean_excluded) or len(set(self.mean_excluded)) >= k:
            raise ValueError(f"{where}: mean_excluded {list(self.mean_excluded)} must leave some of ids 0..{k - 1}")
        if self.sigmas is not None and (len(self.sigmas) != k or not all(s > 0 for s in self.sigmas)):
            raise ValueError(f"{where}: sigmas must be {k} positive numbers")
        unknown = [s for s in self.simple_joints if s not in self.captions]
        if unknown:
            raise ValueError(f"{where}: simple_joints {unknown} are not caption tokens {list(self.captions)}")

    # --- lookups ---------------------------------------------------------------------------------------------------

    @property
    def num_keypoints(self) -> int:
        return len(self.captions)

    @property
    def default_simple_joints(self) -> tuple[str, ...]:
        """The ``simple`` captions' subset: the spec's own, else its first keypoint."""
        return self.simple_joints or (self.captions[0],)

    @property
    def right(self) -> frozenset[int]:
        return frozenset(r for r, _ in self.flip_pairs)

    @property
    def left(self) -> frozenset[int]:
        return frozenset(left for _, left in self.flip_pairs)

    @property
    def flip_index(self) -> np.ndarray:
        """int (K,): the id each keypoint becomes under a horizontal flip."""
        index = np.arange(self.num_keypoints)
        for a, b in self.flip_pairs:
            index[a], index[b] = b, a
        return index

    @property
    def mean_mask(self) -> np.ndarray:
        """bool (K,): the keypoints a mean PCK counts."""
        mask = np.ones(self.num_keypoints, dtype=bool)
        mask[list(self.mean_excluded)] = False
        return mask

    def ids(self, joints: Iterable[str | int] | None = None) -> list[int]:
        """Sorted ids of caption tokens or ids (all keypoints when ``joints`` is None)."""
        if joints is None:
            return list(range(self.num_keypoints))
        index = {c: i for i, c in enumerate(self.captions)}
        ids = set()
        for j in joints:
            if isinstance(j, str):
                if j not in index:
                    raise ValueError(f"unknown joint name {j!r}; expected one of {', '.join(self.captions)}")
                ids.add(index[j])
            elif isinstance(j, (int, np.integer)) and 0 <= int(j) < self.num_keypoints:
                ids.add(int(j))
            else:
                raise ValueError(f"unknown joint id {j!r}; expected 0..{self.num_keypoints - 1}")
        if not ids:
            raise ValueError("the joint subset is empty")
        return sorted(ids)

    # --- JSON ------------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "names": list(self.names),
            "captions": list(self.captions),
            "skeleton": [list(p) for p in self.skeleton],
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "normalizer": self.normalizer,
            "mean_excluded": list(self.mean_excluded),
            "sigmas": None if self.sigmas is None else list(self.sigmas),
            "simple_joints": list(self.simple_joints),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "keypoint set") -> KeypointSpec:
        """The spec :meth:`to_dict` wrote; ``where`` names the file or field in errors."""
        known = set(cls.__dataclass_fields__)
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: a keypoint set is a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; expected {sorted(known)}")
        try:
            return cls(
                name=str(data["name"]),
                names=tuple(str(n) for n in data["names"]),
                captions=tuple(str(c) for c in data["captions"]),
                skeleton=tuple((int(a), int(b)) for a, b in data.get("skeleton") or ()),
                flip_pairs=tuple((int(a), int(b)) for a, b in data.get("flip_pairs") or ()),
                normalizer=str(data.get("normalizer", "person")),
                mean_excluded=tuple(int(i) for i in data.get("mean_excluded") or ()),
                sigmas=None if data.get("sigmas") is None else tuple(float(s) for s in data["sigmas"]),
                simple_joints=tuple(str(s) for s in data.get("simple_joints") or ()),
            )
        except KeyError as err:
            raise ValueError(f"{where}: missing key {err}") from None
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / KEYPOINTS_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> KeypointSpec:
        path = Path(directory) / KEYPOINTS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        return cls.from_dict(data, where=str(path))
