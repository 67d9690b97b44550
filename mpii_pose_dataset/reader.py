"""Read the MPII Human Pose annotation file (``RELEASE`` in ``mpii_human_pose_v1_u12_1.mat``) into typed records.

``scipy.io.loadmat(..., struct_as_record=False, squeeze_me=True)`` turns the file into ``mat_struct`` objects whose
shapes depend on the data: a one-element struct array becomes a bare struct, an empty one an empty array, a
missing value ``[]`` an empty array, and a field may be absent from a struct altogether. This module hides those
shapes (the quirks are listed under Decisions below) and validates every value it returns, so a malformed entry raises
:class:`MPIIFormatError` naming the file, the image index and the field instead of turning into a wrong label.

Decisions:

* ``ImageRecord.video_index`` keeps the file's 1-based ``vididx`` (``video_list``'s YouTube ids are not read):
  only equality matters for grouping frames of one video.
* ``single_person`` is converted to 0-based person indices (they index ``ImageRecord.persons``).
* Coordinates (joints, head rectangle, objpos) are MATLAB 1-based in the file and 0-based in every record: this
  module subtracts :data:`blip_pose.geometry.MATLAB_ORIGIN` on reading (:func:`_coordinate`), the one place where
  that happens, so every config and every consumer sees 0-based pixels (top-left pixel (0, 0)).
* An empty ``is_visible`` stays ``None`` here (the file says nothing); the example builder decides what it means.
* Joint ids outside 0..15, a repeated joint id, a non-finite or non-numeric coordinate, an ``is_visible`` other
  than 0/1/'0'/'1'/empty, and a ``single_person`` index that names no person are errors of that image. By default
  they raise; with ``errors="skip"`` the image is left out and recorded in ``MPIIRelease.skipped`` so the caller
  can count and report it.
* Release-level problems (no ``annolist``; ``img_train``/``single_person``/``act`` of the wrong length; an
  ``img_train`` value other than 0/1) always raise in :func:`read_release`, before any record is produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.io
from scipy.io.matlab import mat_struct

from blip_pose.geometry import MATLAB_ORIGIN
from blip_pose.keypoints.mpii import MPII16
from mpii_pose_dataset.download import ANNOTATION_FILE

RELEASE_FIELDS = ("annolist", "img_train", "single_person", "act", "video_list", "version")


class MPIIFormatError(ValueError):
    """The file is not a readable MPII release, or an entry in it is malformed (the message says where)."""


@dataclass(frozen=True)
class Point:
    """One annotated joint in original-image pixels, 0-based."""

    id: int  # official MPII joint id 0..15
    x: float
    y: float
    visible: int | None  # 1 visible, 0 occluded, None when is_visible is missing/empty


@dataclass(frozen=True)
class Person:
    """One ``annorect`` entry."""

    index: int  # 0-based position in annorect
    points: tuple[Point, ...]  # sorted by id, no duplicate id; () when annopoints is missing/empty
    head_box: tuple[float, float, float, float] | None  # x1, y1, x2, y2 (0-based)
    center: tuple[float, float] | None  # objpos (0-based)
    scale: float | None  # person height / 200 px


@dataclass(frozen=True)
class ImageRecord:
    """One ``annolist`` entry with its per-image fields from the rest of ``RELEASE``."""

    index: int  # 0-based index in annolist (the "MPII image index")
    name: str  # image.name, e.g. "015601864.jpg" (NOT validated as a safe path: the caller must)
    persons: tuple[Person, ...]
    is_train: bool  # img_train == 1; True for every image when img_train is absent
    single_person: tuple[int, ...] | None  # 0-based person indices; None when the release has no single_person
    video_index: int | None  # vididx as in the file (1-based into video_list); None when missing
    frame_sec: float | None
    activity: str | None  # act.act_name
    category: str | None  # act.cat_name


class _EntryError(Exception):
    """A malformed value inside one image; turned into MPIIFormatError (or a skip) with the file and image."""


# ---------------------------------------------------------------------------------------------------------------
# Shape helpers: what squeeze_me makes of empty / one-element / many-element MATLAB arrays
# ---------------------------------------------------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, np.ndarray) and value.size == 0)
        or (isinstance(value, str) and value.strip() == "")
    )


def _field(struct: Any, name: str) -> Any:
    """A struct field, or None when the field is absent or holds []."""
    value = getattr(struct, name, None) if isinstance(struct, mat_struct) else None
    return None if _is_empty(value) else value


def _items(value: Any) -> list[Any]:
    """Elements of a struct array / cell array: [] when empty, [x] for a squeezed single element."""
    if _is_empty(value):
        return []
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _show(value: Any) -> str:
    """A value as an error message should print it: 2.0, not np.float64(2.0)."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray) and value.size <= 8:
        value = value.tolist()
    elif isinstance(value, mat_struct):
        return f"a struct with fields {', '.join(value._fieldnames)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(value: Any, what: str) -> float:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, str):
        raise _EntryError(f"{what} is the text {_show(value)}, expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _EntryError(f"{what} is {_show(value)}, expected a number") from None
    if not math.isfinite(number):
        raise _EntryError(f"{what} is {number}, expected a finite number")
    return number


def _optional_number(struct: Any, name: str, what: str) -> float | None:
    value = _field(struct, name)
    return None if value is None else _number(value, what)


def _coordinate(value: Any, what: str) -> float:
    """A MATLAB 1-based pixel coordinate of the file as this project's 0-based one."""
    return _number(value, what) - MATLAB_ORIGIN


def _optional_coordinate(struct: Any, name: str, what: str) -> float | None:
    value = _field(struct, name)
    return None if value is None else _coordinate(value, what)


def _integer(value: Any, what: str) -> int:
    number = _number(value, what)
    if number != int(number):
        raise _EntryError(f"{what} is {number}, expected a whole number")
    return int(number)


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _EntryError(f"{what} is {_show(value)}, expected text")
    return value.strip() or None


# ---------------------------------------------------------------------------------------------------------------
# Per-image parsing
# ---------------------------------------------------------------------------------------------------------------


def _visible(value: Any, what: str) -> int | None:
    if _is_empty(value):
        return None
    if isinstance(value, str):
        if value.strip() in ("0", "1"):
            return int(value.strip())
        raise _EntryError(f"{what} is {_show(value)}, expected 0, 1, '0', '1' or empty")
    flag = _number(value, what)
    if flag not in (0.0, 1.0):
        raise _EntryError(f"{what} is {flag}, expected 0, 1, '0', '1' or empty")
    return int(flag)


def _points(rect: Any, where: str) -> tuple[Point, ...]:
    annopoints = _field(rect, "annopoints")
    if annopoints is None:
        return ()
    if not isinstance(annopoints, mat_struct):
        raise _EntryError(f"{where}.annopoints is {_show(annopoints)}, expected a struct with a point field")
    points: dict[int, Point] = {}
    for p, point in enumerate(_items(_field(annopoints, "point"))):
        at = f"{where}.annopoints.point({p + 1})"
        if not isinstance(point, mat_struct):
            raise _EntryError(f"{at} is {_show(point)}, expected a struct with x, y, id")
        for name in ("x", "y", "id"):
            if _field(point, name) is None:
                raise _EntryError(f"{at} has no {name}")
        joint = _integer(point.id, f"{at}.id")
        if not 0 <= joint < MPII16.num_keypoints:
            raise _EntryError(f"{at}.id is {joint}, expected a joint id 0..{MPII16.num_keypoints - 1}")
        if joint in points:
            raise _EntryError(f"{at}.id {joint} is annotated twice")
        points[joint] = Point(
            joint,
            _coordinate(point.x, f"{at}.x"),
            _coordinate(point.y, f"{at}.y"),
            _visible(getattr(point, "is_visible", None), f"{at}.is_visible"),
        )
    return tuple(points[j] for j in sorted(points))


def _person(rect: Any, index: int, where: str) -> Person:
    at = f"{where}.annorect({index + 1})"
    if not isinstance(rect, mat_struct):
        raise _EntryError(f"{at} is {_show(rect)}, expected a struct")
    box = [_optional_coordinate(rect, k, f"{at}.{k}") for k in ("x1", "y1", "x2", "y2")]
    objpos = _field(rect, "objpos")
    center = None
    if objpos is not None:
        if not isinstance(objpos, mat_struct):
            raise _EntryError(f"{at}.objpos is {_show(objpos)}, expected a struct with x, y")
        cx = _optional_coordinate(objpos, "x", f"{at}.objpos.x")
        cy = _optional_coordinate(objpos, "y", f"{at}.objpos.y")
        center = None if cx is None or cy is None else (cx, cy)
    return Person(
        index=index,
        points=_points(rect, at),
        head_box=None if None in box else tuple(box),  # type: ignore[arg-type]
        center=center,
        scale=_optional_number(rect, "scale", f"{at}.scale"),
    )


def _single_person(value: Any, n_persons: int, what: str) -> tuple[int, ...]:
    indices = []
    for v in _items(value):
        one_based = _integer(v, what)
        if not 1 <= one_based <= n_persons:
            raise _EntryError(f"{what} names person {one_based}, but the image has {n_persons} (1-based)")
        indices.append(one_based - 1)
    return tuple(sorted(set(indices)))


# ---------------------------------------------------------------------------------------------------------------
# The release
# ---------------------------------------------------------------------------------------------------------------


class MPIIRelease:
    """An opened release: ``len()`` images, iteration streams :class:`ImageRecord` in annolist order."""

    def __init__(self, path: Path, release: mat_struct, errors: Literal["raise", "skip"] = "raise") -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
        self.path = path
        self.errors = errors
        self.fields = frozenset(f for f in release._fieldnames if f in RELEASE_FIELDS)
        #: (image index, reason) of the images left out with errors="skip", filled while iterating.
        self.skipped: list[tuple[int, str]] = []
        self._annolist = _items(release.annolist)
        n = len(self._annolist)
        self._img_train = self._per_image(release, "img_train", n)
        self._single_person = self._per_image(release, "single_person", n)
        self._act = self._per_image(release, "act", n)
        if self._img_train is not None:
            for i, flag in enumerate(self._img_train):
                try:
                    valid = _number(flag, "img_train") in (0.0, 1.0)
                except _EntryError:
                    valid = False
                if not valid:
                    raise MPIIFormatError(f"{path}: img_train({i + 1}) is {_show(flag)}, expected 0 or 1")

    def _per_image(self, release: mat_struct, name: str, n: int) -> list[Any] | None:
        """A per-image RELEASE field as a list of n entries (None when the field is absent)."""
        if name not in release._fieldnames:
            return None
        value = getattr(release, name)
        if n == 1:  # squeeze_me removed the per-image axis: the value IS the single entry
            return [value]
        if isinstance(value, np.ndarray) and value.size == n:
            return list(value.ravel())
        size = value.size if isinstance(value, np.ndarray) else 1
        raise MPIIFormatError(f"{self.path}: RELEASE.{name} has {size} entries but annolist has {n} images")

    def __len__(self) -> int:
        return len(self._annolist)

    def __iter__(self) -> Iterator[ImageRecord]:
        self.skipped = []
        for i in range(len(self._annolist)):
            try:
                yield self._record(i)
            except _EntryError as e:
                message = f"{self.path}: image {i} (annolist({i + 1})): {e}"
                if self.errors == "raise":
                    raise MPIIFormatError(message) from None
                self.skipped.append((i, message))

    def _record(self, i: int) -> ImageRecord:
        entry = self._annolist[i]
        where = f"annolist({i + 1})"
        if not isinstance(entry, mat_struct):
            raise _EntryError(f"{where} is {_show(entry)}, expected a struct")
        name = _text(_field(_field(entry, "image"), "name"), f"{where}.image.name")
        if name is None:
            raise _EntryError(f"{where}.image.name is missing")
        persons = tuple(_person(r, k, where) for k, r in enumerate(_items(_field(entry, "annorect"))))
        single = None
        if self._single_person is not None:
            single = _single_person(self._single_person[i], len(persons), f"single_person({i + 1})")
        vididx = _field(entry, "vididx")
        video_index = None if vididx is None else _integer(vididx, f"{where}.vididx")
        if video_index is not None and video_index < 1:
            raise _EntryError(f"{where}.vididx is {video_index}, expected a 1-based index")
        act = self._act[i] if self._act is not None else None
        return ImageRecord(
            index=i,
            name=name,
            persons=persons,
            is_train=True if self._img_train is None else float(self._img_train[i]) == 1.0,
            single_person=single,
            video_index=video_index,
            frame_sec=_optional_number(entry, "frame_sec", f"{where}.frame_sec"),
            activity=_text(_field(act, "act_name"), f"act({i + 1}).act_name"),
            category=_text(_field(act, "cat_name"), f"act({i + 1}).cat_name"),
        )


def read_release(path: str | Path, errors: Literal["raise", "skip"] = "raise") -> MPIIRelease:
    """Open an MPII annotation file.

    Raises FileNotFoundError when the file is missing, :class:`MPIIFormatError` when it is not a MATLAB v5 file,
    has no ``RELEASE`` variable, or its ``RELEASE`` has no ``annolist`` or per-image fields of the wrong length.
    ``errors`` says what iteration does with a malformed image: raise, or skip it and record it in ``skipped``.
    """
    path = Path(path)
    if path.is_dir():
        raise MPIIFormatError(f"{path} is a folder; expected the annotation file ({ANNOTATION_FILE})")
    if not path.is_file():
        raise FileNotFoundError(f"MPII annotation file not found: {path}")
    try:
        variables = scipy.io.whosmat(path)
    except NotImplementedError as e:  # MATLAB v7.3 files are HDF5
        raise MPIIFormatError(f"{path}: MATLAB v7.3 (HDF5) files are not supported, save it as -v7 ({e})") from e
    except Exception as e:  # scipy raises ValueError, OSError, MatReadError... for non-MATLAB bytes
        raise MPIIFormatError(f"{path}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from e
    names = [v[0] for v in variables]
    if "RELEASE" not in names:
        raise MPIIFormatError(
            f"{path}: no RELEASE variable (the MPII annotation struct); the file holds {names or 'no variables'}"
        )
    try:
        release = scipy.io.loadmat(path, variable_names=["RELEASE"], struct_as_record=False, squeeze_me=True)["RELEASE"]
    except Exception as e:  # truncated or corrupt data after a valid header
        raise MPIIFormatError(f"{path}: cannot read RELEASE ({type(e).__name__}: {e})") from e
    if not isinstance(release, mat_struct):
        raise MPIIFormatError(f"{path}: RELEASE is a {type(release).__name__}, expected a MATLAB struct")
    if "annolist" not in release._fieldnames:
        raise MPIIFormatError(f"{path}: RELEASE has no annolist field (it has {', '.join(release._fieldnames)})")
    return MPIIRelease(path, release, errors)
