"""The MPII reader on small generated release files covering every shape quirk of the real one, and bad files."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io

from mpii_pose_dataset.matfile import release_struct, write_mat, write_release
from mpii_pose_dataset.reader import MPIIFormatError, Point, read_release


def pt(j: int, x: float, y: float, vis: Any = 1.0) -> dict[str, Any]:
    return {"x": x, "y": y, "id": j, "is_visible": vis}


def person(points: list[dict] | None, **extra: Any) -> dict[str, Any]:
    base = {
        "x1": 10.0,
        "y1": 20.0,
        "x2": 30.0,
        "y2": 45.0,
        "annopoints": None if points is None else {"point": points},
        "scale": 1.5,
        "objpos": {"x": 50.0, "y": 60.0},
    }
    return {**base, **extra}


def image(name: str, annorect: Any, **extra: Any) -> dict[str, Any]:
    return {
        "image": {"name": name},
        "annorect": annorect,
        "frame_sec": extra.get("frame_sec", 12.0),
        "vididx": extra.get("vididx", 1),
    }


def write(tmp_path: Path, annolist: list[dict], name: str = "r.mat", **fields: Any) -> Path:
    n = len(annolist)
    defaults: dict[str, Any] = {
        "img_train": [1] * n,
        "single_person": [[1]] * n,
        "act": [None] * n,
        "video_list": ["vidA", "vidB"],
        "version": "12",
    }
    defaults.update(fields)
    return write_release(tmp_path / name, release_struct(annolist, **defaults))


def records(path: Path, **kw: Any) -> list:
    return list(read_release(path, **kw))


def test_annorect_empty_single_struct_and_array(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            image("a.jpg", []),
            image("b.jpg", [person([pt(0, 1, 2)])]),
            image("c.jpg", [person([pt(0, 1, 2)]), person([pt(9, 3, 4)], scale=2.0)]),
        ],
        single_person=[[], [1], [2, 1]],
    )
    a, b, c = records(path)
    assert (a.name, a.persons, a.single_person) == ("a.jpg", (), ())
    assert len(b.persons) == 1 and b.persons[0].index == 0 and b.single_person == (0,)
    assert [p.index for p in c.persons] == [0, 1] and c.single_person == (0, 1)
    # MATLAB 1-based in the file, 0-based in the records: every coordinate is one less.
    assert c.persons[1].points == (Point(9, 2.0, 3.0, 1),) and c.persons[1].scale == 2.0
    assert b.persons[0].head_box == (9.0, 19.0, 29.0, 44.0) and b.persons[0].center == (49.0, 59.0)


def test_annopoints_missing_empty_short_and_unordered(tmp_path: Path) -> None:
    no_field = {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0, "scale": 1.0, "objpos": {"x": 5.0, "y": 6.0}}
    path = write(
        tmp_path,
        [
            image("missing.jpg", [no_field]),  # the struct has no annopoints field at all
            image("empty.jpg", [person(None)]),  # annopoints = []
            image("nopoint.jpg", [person([])]),  # annopoints.point = []
            image("one.jpg", [person([pt(7, 5.5, 6.5)])]),  # a single point squeezes to a bare struct
            image("shuffled.jpg", [person([pt(15, 1, 1), pt(0, 2, 2), pt(8, 3, 3)])]),
        ],
    )
    missing, empty, nopoint, one, shuffled = records(path)
    assert missing.persons[0].points == () and missing.persons[0].scale == 1.0
    assert empty.persons[0].points == () and nopoint.persons[0].points == ()
    assert one.persons[0].points == (Point(7, 4.5, 5.5, 1),)
    assert [(p.id, p.x) for p in shuffled.persons[0].points] == [(0, 1.0), (8, 2.0), (15, 0.0)]


def test_is_visible_number_char_empty_and_absent(tmp_path: Path) -> None:
    pts = [
        pt(0, 1, 1, 1.0),
        pt(1, 1, 1, 0.0),
        pt(2, 1, 1, "1"),
        pt(3, 1, 1, "0"),
        pt(4, 1, 1, None),
        pt(5, 1, 1, ""),
        pt(6, 1, 1, np.uint8(1)),
    ]
    without_field = [{"x": 9.0, "y": 9.0, "id": 10.0}]
    path = write(tmp_path, [image("a.jpg", [person(pts)]), image("b.jpg", [person(without_field)])])
    a, b = records(path)
    assert [p.visible for p in a.persons[0].points] == [1, 0, 1, 0, None, None, 1]
    assert b.persons[0].points == (Point(10, 8.0, 8.0, None),)


def test_test_image_without_annopoints(tmp_path: Path) -> None:
    test_person = {"scale": 3.2, "objpos": {"x": 600.0, "y": 300.0}}
    path = write(
        tmp_path, [image("train.jpg", [person([pt(0, 1, 1)])]), image("test.jpg", [test_person])], img_train=[1, 0]
    )
    train, test = records(path)
    assert train.is_train and not test.is_train
    assert test.persons[0].points == () and test.persons[0].head_box is None
    assert test.persons[0].center == (599.0, 299.0) and test.persons[0].scale == 3.2


def test_missing_vididx_frame_sec_and_act(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            image("a.jpg", [person([])], vididx=2, frame_sec=7.5),
            image("b.jpg", [person([])], vididx=None, frame_sec=None),
            image("c.jpg", [], vididx=1, frame_sec=None),
        ],
        act=[
            {"cat_name": "sports", "act_name": "golf", "act_id": 3},
            {"cat_name": None, "act_name": None, "act_id": -1},
            None,
        ],
        img_train=[1, 1, 1],
        single_person=[[], [], []],
        video_list=[None, "vidB"],
    )
    release = read_release(path)
    a, b, c = list(release)
    assert (a.video_index, a.frame_sec, a.category, a.activity) == (2, 7.5, "sports", "golf")
    assert (b.video_index, b.frame_sec, b.category, b.activity) == (None, None, None, None)
    assert c.video_index == 1 and len(release) == 3


def test_annolist_only_release(tmp_path: Path) -> None:
    path = write_release(
        tmp_path / "only.mat", release_struct([image("a.jpg", [person([pt(0, 1, 1)])]), image("b.jpg", [])])
    )
    release = read_release(path)
    assert release.fields == frozenset({"annolist"})
    recs = list(release)
    assert [r.is_train for r in recs] == [True, True]
    assert all(r.single_person is None and r.activity is None for r in recs)


def test_one_image_release_is_not_confused_by_squeezing(tmp_path: Path) -> None:
    # With one image, squeeze_me drops the per-image axis of img_train, single_person and act.
    path = write(
        tmp_path,
        [image("a.jpg", [person([pt(0, 1, 1)]), person([pt(1, 2, 2)])])],
        img_train=[0],
        single_person=[[1, 2]],
        act=[{"cat_name": "x", "act_name": "y", "act_id": 1}],
    )
    (rec,) = records(path)
    assert not rec.is_train and rec.single_person == (0, 1) and rec.activity == "y" and len(rec.persons) == 2


def test_records_stream_until_the_bad_image(tmp_path: Path) -> None:
    path = write(tmp_path, [image("good.jpg", [person([pt(0, 1, 1)])]), image("bad.jpg", [person([pt(16, 1, 1)])])])
    it = iter(read_release(path))
    assert next(it).name == "good.jpg"  # produced before the bad image is looked at
    with pytest.raises(MPIIFormatError, match="image 1"):
        next(it)


@pytest.mark.parametrize(
    "bad_image, field, fields",
    [
        (image("x.jpg", [person([pt(16, 1, 1)])]), r"point\(1\)\.id is 16", {}),
        (image("x.jpg", [person([pt(-1, 1, 1)])]), r"\.id is -1", {}),
        (image("x.jpg", [person([pt(2.5, 1, 1)])]), r"\.id is 2\.5", {}),
        (image("x.jpg", [person([pt(3, 1, 1), pt(3, 2, 2)])]), r"point\(2\)\.id 3 is annotated twice", {}),
        (image("x.jpg", [person([pt(3, math.nan, 1)])]), r"\.x is nan", {}),
        (image("x.jpg", [person([pt(3, 1, math.inf)])]), r"\.y is inf", {}),
        (image("x.jpg", [person([pt(3, "12", 1)])]), r"\.x is the text '12'", {}),
        (image("x.jpg", [person([{"x": 1.0, "id": 2.0}])]), r"has no y", {}),
        (image("x.jpg", [person([pt(3, 1, 1, "2")])]), r"is_visible is '2'", {}),
        (image("x.jpg", [person([pt(3, 1, 1, 3.0)])]), r"is_visible is 3\.0", {}),
        (image("x.jpg", [person([], x1=math.nan)]), r"annorect\(1\)\.x1 is nan", {}),
        (image("x.jpg", [person([], objpos=4.0)]), r"annorect\(1\)\.objpos is 4\.0, expected a struct", {}),
        (image("x.jpg", [person([pt(3, 1, 1)])], vididx=0), r"vididx is 0", {}),
        ({"image": {"name": None}, "annorect": [], "frame_sec": None, "vididx": None}, r"image\.name is missing", {}),
        (image("x.jpg", [person([])]), r"single_person\(2\) names person 3", {"single_person": [[1], [3], []]}),
        (image("x.jpg", [person([])]), r"single_person\(2\) names person 0", {"single_person": [[1], [0], []]}),
    ],
)
def test_malformed_image_raises_or_is_skipped(tmp_path: Path, bad_image: dict, field: str, fields: dict) -> None:
    annolist = [image("good.jpg", [person([pt(0, 1, 1)])]), bad_image, image("after.jpg", [])]
    fields = {"single_person": [[1], [], []], **fields}
    path = write(tmp_path, annolist, **fields)
    with pytest.raises(MPIIFormatError, match=rf"r\.mat: image 1 \(annolist\(2\)\).*{field}"):
        records(path)
    release = read_release(path, errors="skip")
    assert [r.name for r in release] == ["good.jpg", "after.jpg"]
    assert len(release.skipped) == 1 and release.skipped[0][0] == 1 and str(path) in release.skipped[0][1]


def test_partial_head_box_is_none(tmp_path: Path) -> None:
    rect = {"x1": 1.0, "y1": 2.0, "annopoints": {"point": [pt(0, 1, 1)]}}
    (rec,) = records(write(tmp_path, [image("a.jpg", [rect])], single_person=[[]]))
    assert rec.persons[0].head_box is None and rec.persons[0].center is None and rec.persons[0].scale is None


def test_missing_file_or_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        read_release(tmp_path / "nope.mat")
    with pytest.raises(MPIIFormatError, match="is a folder"):
        read_release(tmp_path)


@pytest.mark.parametrize("content", [os.urandom(300), b"", b"MATLAB 5.0 MAT-file" + b"\0" * 40])
def test_not_a_mat_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.mat"
    path.write_bytes(content)
    with pytest.raises(MPIIFormatError, match=r"junk\.mat"):
        read_release(path)


def test_truncated_mat_file(tmp_path: Path) -> None:
    full = write(tmp_path, [image("a.jpg", [person([pt(0, 1, 1)])])] * 20).read_bytes()
    path = tmp_path / "cut.mat"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(MPIIFormatError, match=r"cut\.mat"):
        read_release(path)


def test_mat_without_release(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "other.mat", {"annolist": {"a": 1.0}, "joints": np.zeros((3, 2))})
    with pytest.raises(MPIIFormatError, match=r"other\.mat: no RELEASE variable.*annolist"):
        read_release(path)


@pytest.mark.parametrize(
    "release, message",
    [
        ({"img_train": [1.0]}, "RELEASE has no annolist field"),
        (3.0, "RELEASE is a"),
    ],
)
def test_release_without_annolist(tmp_path: Path, release: Any, message: str) -> None:
    path = write_mat(tmp_path / "rel.mat", {"RELEASE": release})
    with pytest.raises(MPIIFormatError, match=rf"rel\.mat: {message}"):
        read_release(path)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"img_train": [1, 1, 1]}, r"img_train has 3 entries but annolist has 2"),
        ({"single_person": [[1]] * 3}, r"single_person has 3 entries"),
        ({"img_train": [1, 2]}, r"img_train\(2\) is 2\.0, expected 0 or 1"),
    ],
)
def test_release_level_errors(tmp_path: Path, fields: dict, message: str) -> None:
    path = write(tmp_path, [image("a.jpg", []), image("b.jpg", [])], **fields)
    with pytest.raises(MPIIFormatError, match=rf"r\.mat: RELEASE\.{message}|r\.mat: {message}"):
        read_release(path)


def test_writer_quirks_survive_loadmat(tmp_path: Path) -> None:
    """The shapes the reader handles are the ones scipy really produces from our writer."""
    path = write(tmp_path, [image("a.jpg", [person([pt(0, 1, 1, "1")])]), image("b.jpg", [])])
    rel = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)["RELEASE"]
    single, empty = rel.annolist
    assert type(single.annorect).__name__ == "mat_struct"  # one person: a bare struct, not an array
    assert isinstance(empty.annorect, np.ndarray) and empty.annorect.size == 0
    assert single.annorect.annopoints.point.is_visible == "1"
