"""Write MPII-format ``.mat`` files (the ``RELEASE`` struct) with :func:`scipy.io.savemat`.

Used by the sample generator and by tests that need release files with the quirks of the real one. Values are
plain Python: a ``dict`` becomes a MATLAB struct, a ``list`` of dicts a 1xN struct array (fields missing from an
element are written as ``[]``, as MATLAB does), ``None`` or ``[]`` an empty matrix ``[]``, a ``str`` a char array,
numbers doubles. Anything already a numpy array is written as is, so tests can also write odd raw values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

EMPTY = np.zeros((0, 0))
#: The MAT v5 header holds 116 bytes of free text; savemat writes the creation time there, which would make
#: every generated file differ. A fixed text keeps the sample byte-for-byte reproducible.
_HEADER_TEXT = b"MATLAB 5.0 MAT-file, written by mpii_pose_dataset.matfile"


def to_matlab(value: Any) -> Any:
    """Convert nested dicts/lists/None/numbers to what savemat writes as MATLAB structs, struct arrays, []."""
    if value is None:
        return EMPTY
    if isinstance(value, np.ndarray | np.generic | str):
        return value
    if isinstance(value, int | float):  # bools too (an int subclass): MATLAB stores flags as doubles
        return float(value)
    if isinstance(value, Mapping):
        return {k: to_matlab(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        if len(value) == 0:
            return EMPTY
        if all(isinstance(v, Mapping) for v in value):
            return struct_array(value)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return np.asarray(value, dtype=np.float64)[None, :]
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to a MATLAB file")


def struct_array(items: Sequence[Mapping[str, Any]], column: bool = False) -> np.ndarray:
    """A 1xN (or Nx1 with ``column``) MATLAB struct array; the fields are the union over the items."""
    fields: list[str] = []
    for item in items:
        fields.extend(k for k in item if k not in fields)
    shape = (len(items), 1) if column else (1, len(items))
    out = np.zeros(shape, dtype=[(f, object) for f in fields])
    for i, item in enumerate(items):
        out.flat[i] = tuple(to_matlab(item.get(f)) for f in fields)
    return out


def cell_column(values: Sequence[Any]) -> np.ndarray:
    """An Nx1 MATLAB cell array (``single_person`` is one: a column of index vectors per image)."""
    out = np.empty((len(values), 1), dtype=object)
    for i, v in enumerate(values):
        out[i, 0] = to_matlab(v)
    return out


def cell_row(values: Sequence[Any]) -> np.ndarray:
    """A 1xN MATLAB cell array (``video_list`` is one: a row of YouTube ids)."""
    out = np.empty((1, len(values)), dtype=object)
    for i, v in enumerate(values):
        out[0, i] = to_matlab(v)
    return out


def release_struct(
    annolist: Sequence[Mapping[str, Any]],
    *,
    img_train: Sequence[int] | None = None,
    single_person: Sequence[Sequence[int] | None] | None = None,
    act: Sequence[Mapping[str, Any] | None] | None = None,
    video_list: Sequence[str] | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The ``RELEASE`` struct with the real file's layout; fields passed as None are left out of the file.

    ``annolist`` items look like ``{"image": {"name": ...}, "annorect": [person, ...], "frame_sec": ..., "vididx":
    ...}`` and persons like ``{"x1": ..., "scale": ..., "objpos": {"x", "y"}, "annopoints": {"point": [...]}}``.
    ``single_person`` holds 1-based person indices per image, as in the real file; a None ``act`` entry is written
    as the real file's unknown activity (empty names, act_id -1).
    """
    release: dict[str, Any] = {"annolist": struct_array(annolist)}
    if img_train is not None:
        release["img_train"] = np.asarray(img_train, dtype=np.float64)[None, :]
    if version is not None:
        release["version"] = version
    if single_person is not None:
        release["single_person"] = cell_column(
            [None if v is None else np.asarray(v, dtype=np.float64)[:, None] for v in single_person]
        )
    if act is not None:
        unknown = {"cat_name": None, "act_name": None, "act_id": -1}  # how the real file writes "no activity"
        release["act"] = struct_array([a if a is not None else unknown for a in act], column=True)
    if video_list is not None:
        release["video_list"] = cell_row(list(video_list))
    return release


def write_mat(path: str | Path, variables: Mapping[str, Any]) -> Path:
    """savemat with a fixed header text, so the same content always gives the same bytes."""
    path = Path(path)
    scipy.io.savemat(path, {k: to_matlab(v) for k, v in variables.items()}, do_compression=True)
    with path.open("r+b") as f:
        f.write(_HEADER_TEXT.ljust(116))
    return path


def write_release(path: str | Path, release: Mapping[str, Any]) -> Path:
    """Write ``release`` (see :func:`release_struct`) as the ``RELEASE`` variable of a MAT v5 file."""
    return write_mat(path, {"RELEASE": release})
