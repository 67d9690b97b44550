"""The bundled synthetic sample: readable, complete, exact, carrying the real file's quirks, and reproducible."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy.io.matlab import mat_struct

from mpii_pose_dataset.reader import ImageRecord, read_release
from mpii_pose_dataset.sample import SAMPLE_DIR, SAMPLE_IMAGES, SAMPLE_MAT
from mpii_pose_dataset.sample_generator import VIDEOS, main
from mpii_pose_dataset.stick_figure import JOINT_COLOURS


@pytest.fixture(scope="module")
def records() -> list[ImageRecord]:
    return list(read_release(SAMPLE_MAT))


@pytest.fixture(scope="module")
def raw() -> mat_struct:
    return scipy.io.loadmat(SAMPLE_MAT, struct_as_record=False, squeeze_me=True)["RELEASE"]


def _pixels(name: str) -> np.ndarray:
    with Image.open(SAMPLE_IMAGES / name) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int64)


def test_layout_counts_and_size(records: list[ImageRecord]) -> None:
    release = read_release(SAMPLE_MAT)
    assert SAMPLE_MAT.name == "mpii_human_pose_v1_u12_1.mat" and SAMPLE_IMAGES == SAMPLE_DIR / "images"
    assert release.fields == {"annolist", "img_train", "single_person", "act", "video_list", "version"}
    assert len(records) == sum(v.frames for v in VIDEOS) and 32 <= len(records) <= 48
    assert sum(not r.is_train for r in records) == sum(v.frames for v in VIDEOS if not v.train) >= 3
    assert {p.name for p in SAMPLE_IMAGES.glob("*.jpg")} == {r.name for r in records}
    total = sum(p.stat().st_size for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert total < 5 * 2**20


def test_images_decode_in_several_sizes(records: list[ImageRecord]) -> None:
    sizes = Counter()
    for r in records:
        with Image.open(SAMPLE_IMAGES / r.name) as im:
            im.load()
            assert im.format == "JPEG" and im.mode == "RGB"
            sizes[im.size] += 1
    assert sizes.most_common(1)[0][0] == (640, 360)
    assert any(w < h for w, h in sizes)  # a portrait video


def test_annotations_lie_inside_their_images(records: list[ImageRecord]) -> None:
    for r in records:
        with Image.open(SAMPLE_IMAGES / r.name) as im:
            w, h = im.size
        for p in r.persons:
            for q in p.points:
                assert 0 <= q.x < w and 0 <= q.y < h, (r.name, q)
            if r.is_train and p.points:
                x1, y1, x2, y2 = p.head_box
                assert x1 < x2 and y1 < y2 and p.scale > 0.5 and p.center is not None


def test_joints_sit_on_their_drawn_colours(records: list[ImageRecord]) -> None:
    """Labels are the drawn positions: a visible joint shows its own disc colour, an occluded one does not."""
    colours = np.array(JOINT_COLOURS)
    hits = visible = occluded = 0
    for r in records:
        pixels = _pixels(r.name)
        for p in r.persons:
            for q in p.points:
                px = pixels[int(q.y), int(q.x)]
                if q.visible == 1:
                    visible += 1
                    hits += int(np.abs(colours - px).sum(1).argmin() == q.id)
                elif q.visible == 0:
                    occluded += 1
                    assert np.abs(colours[q.id] - px).max() > 60, (r.name, q)
    assert occluded >= 10 and hits >= 0.95 * visible  # a few discs of one figure overlap each other


def test_people_videos_and_quirks(records: list[ImageRecord]) -> None:
    train = [r for r in records if r.is_train]
    assert sum(1 for r in train if len(r.persons) == 1 and len(r.persons[0].points) == 16) >= 20
    two = [r for r in train if len(r.persons) >= 2]
    assert any(r.single_person == tuple(range(len(r.persons))) for r in two)  # all apart
    assert any(0 < len(r.single_person) < len(r.persons) for r in two)  # some close together
    assert any(r.single_person == () for r in two)
    assert any(0 < len(p.points) < 16 for r in train for p in r.persons)  # leaving the frame
    assert any(p.points == () for r in two for p in r.persons)  # annopoints left empty
    assert any(r.persons == () for r in train)
    assert any(q.visible is None for r in train for p in r.persons for q in p.points)
    tests = [r for r in records if not r.is_train]
    assert all(p.points == () and p.center and p.scale and p.head_box is None for r in tests for p in r.persons)
    videos = Counter(r.video_index for r in records if r.video_index is not None)
    assert len(videos) >= 8 and all(n >= 3 for n in videos.values())
    assert any(r.video_index is None and r.frame_sec is None for r in records)
    assert any(r.activity is None for r in records) and any(r.activity for r in records)


def test_raw_file_has_the_real_shapes(raw: mat_struct) -> None:
    annolist = list(raw.annolist)
    kinds = Counter(
        "struct" if isinstance(a.annorect, mat_struct) else "empty" if a.annorect.size == 0 else "array"
        for a in annolist
    )
    assert kinds["struct"] and kinds["empty"] and kinds["array"]
    flags = [
        q.is_visible
        for a in annolist
        for rect in np.atleast_1d(a.annorect)
        if isinstance(getattr(rect, "annopoints", None), mat_struct)
        for q in np.atleast_1d(rect.annopoints.point)
    ]
    assert any(isinstance(f, str) for f in flags) and any(isinstance(f, float) for f in flags)
    assert any(isinstance(f, np.ndarray) and f.size == 0 for f in flags)
    orders = [
        [q.id for q in np.atleast_1d(rect.annopoints.point)]
        for a in annolist
        for rect in np.atleast_1d(a.annorect)
        if isinstance(getattr(rect, "annopoints", None), mat_struct)
    ]
    assert any(ids != sorted(ids) for ids in orders)
    assert not any(
        hasattr(rect, "annopoints")
        for a, t in zip(annolist, raw.img_train, strict=True)
        if t == 0
        for rect in np.atleast_1d(a.annorect)
    )  # test persons: the field is absent altogether


def test_generator_reproduces_the_committed_sample(tmp_path: Path) -> None:
    main(["--out", str(tmp_path)])
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(SAMPLE_DIR) for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert made == committed
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (SAMPLE_DIR / rel).read_bytes(), rel


def test_generator_refuses_a_folder_with_other_images(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "old.jpg").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="old.jpg"):
        main(["--out", str(tmp_path)])
