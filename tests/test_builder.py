"""The mpii_pose_caption builder end to end: sample build, Hub layout, load_dataset, geometry, splits."""

from __future__ import annotations

import numpy as np
import pytest
from _mpii_release import simple_release
from datasets import load_dataset

from blip_pose.geometry import BoxTransform, inside_image
from blip_pose.pose_format import parse_coords, parse_normalized, parse_visibility
from mpii_pose_dataset.builder import MpiiPoseCaption, read_build_report
from mpii_pose_dataset.export import build
from mpii_pose_dataset.features import COLUMN_DOCS, FEATURES
from mpii_pose_dataset.reader import read_release
from mpii_pose_dataset.sample import SAMPLE_DIR, SAMPLE_MAT
from mpii_pose_dataset.splits import group_key, validation_groups


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "mpii_pose_caption"
    cache = tmp_path_factory.mktemp("cache")
    reports = build(
        out, data_dir=SAMPLE_DIR, configs=["paper", "video_split", "person_crop"], num_proc=1, cache_dir=cache
    )
    return out, reports


@pytest.fixture(scope="module")
def annotations():
    """(mpii_index, person_index) -> (16, 3) original x, y, visible from the reader (empty is_visible: 1)."""
    return {
        (r.index, p.index): np.array([(q.x, q.y, 1 if q.visible is None else q.visible) for q in p.points], dtype=float)
        for r in read_release(SAMPLE_MAT)
        for p in r.persons
    }


def _check_example(ex: dict, original: np.ndarray) -> None:
    pts = np.asarray(ex["joint_points"], dtype=float)
    assert pts.shape == (16, 3) and ex["image"].size == (ex["width"], ex["height"]) and ex["image"].mode == "RGB"
    # Every caption column reads back to joint_points.
    parsed = parse_coords(ex["text"])
    assert parsed.found.all() and np.abs(parsed.xy - pts[:, :2]).max() <= 0.5 + 1e-4
    norm = parse_normalized(ex["normalized_text"], ex["width"], ex["height"])
    assert norm.found.all() and np.abs(norm.xy - pts[:, :2]).max() <= 0.0005 * ex["width"] + 1e-3
    vis, found = parse_visibility(ex["visibility_text"])
    assert found.all() and (vis == pts[:, 2]).all()
    simple = parse_coords(ex["simple_text"])
    assert simple.found.tolist() == [j == 8 for j in range(16)]
    assert parse_visibility(ex["simple_visibility_text"])[1].sum() == 1
    assert parse_coords(ex["normalized_simple_text"]).found.sum() == 1
    # The processed label maps back exactly onto the MPII annotation.
    transform = BoxTransform(tuple(ex["crop_box"]), ex["width"], ex["height"])
    np.testing.assert_allclose(transform.inverse(pts)[:, :2], original[:, :2], atol=0.05)
    assert (pts[:, 2] == original[:, 2]).all()
    assert inside_image(pts, ex["width"], ex["height"]).all()


def test_load_dataset_gives_paper_config_with_the_declared_features(sample_folder, annotations, tmp_path):
    folder, reports = sample_folder
    ds = load_dataset(str(folder), cache_dir=str(tmp_path))
    assert set(ds) == {"train", "validation"}
    assert ds["train"].features == FEATURES and set(COLUMN_DOCS) == set(FEATURES)
    assert {s: len(d) for s, d in ds.items()} == reports["paper"]["examples"]
    assert len(ds["train"]) > 3 * len(ds["validation"]) > 0  # 80/20
    for split in ds.values():
        for ex in split:
            assert (ex["width"], ex["height"]) == (384, 384)
            assert ex["crop_box"] == [0, 0, ex["original_width"], ex["original_height"]]
            _check_example(ex, annotations[(ex["mpii_index"], ex["person_index"])])
    names = list(ds["train"]["image_name"]) + list(ds["validation"]["image_name"])
    assert len(names) == len(set(names))  # one person per image, each image once
    # The committed sample: 46 images; 34 kept, two of them from images with other annotated people.
    assert reports["paper"]["examples"] == {"train": 27, "validation": 7}
    assert reports["paper"]["skipped"] == {
        "missing_joints": 2,
        "no_person": 1,
        "no_single_person": 1,
        "not_single_person": 4,
        "test_image": 4,
    }
    assert reports["paper"]["selection"] == "single_person" and reports["paper"]["visibility_defaulted"] == 2
    records = {r.index: r for r in read_release(SAMPLE_MAT)}
    crowded = 0
    for split in ds.values():
        for ex in split:
            record = records[ex["mpii_index"]]
            assert record.single_person == (ex["person_index"],)  # the person single_person names, none other
            crowded += len(record.persons) > 1
    assert crowded == 2


def test_video_split_keeps_each_video_on_one_side(sample_folder, tmp_path):
    folder, reports = sample_folder
    ds = load_dataset(str(folder), "video_split", cache_dir=str(tmp_path))
    train, val = (set(ds[s]["video_index"]) - {-1} for s in ("train", "validation"))
    assert train and val and not train & val
    assert reports["video_split"]["recipe"]["split_by"] == "video"


def test_person_crop_admits_several_persons_per_image(sample_folder, annotations, tmp_path):
    folder, _ = sample_folder
    ds = load_dataset(str(folder), "person_crop", cache_dir=str(tmp_path))
    rows = [ex for split in ds.values() for ex in split]
    per_image = {}
    for ex in rows:
        per_image.setdefault(ex["mpii_index"], []).append(ex["person_index"])
        x0, y0, x1, y1 = ex["crop_box"]
        side = 200 * ex["person_scale"] * 1.25
        assert x1 - x0 == pytest.approx(side, rel=1e-5) and y1 - y0 == pytest.approx(side, rel=1e-5)
        assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(tuple(ex["person_center"]), rel=1e-5)
        _check_example(ex, annotations[(ex["mpii_index"], ex["person_index"])])
    assert max(len(p) for p in per_image.values()) >= 2
    # All persons of one image are on the same side of the split.
    sides = {split: set(ds[split]["mpii_index"]) for split in ds}
    assert not sides["train"] & sides["validation"]


def test_annolist_only_release(tmp_path):
    """Files made by other tools may hold only annolist: every image counts as training, metadata is empty."""
    root = simple_release(tmp_path / "mpii", n=6)
    reports = build(tmp_path / "out", data_dir=root, num_proc=1, cache_dir=tmp_path / "cache")
    assert reports["paper"]["examples"] == {"train": 5, "validation": 1}
    assert reports["paper"]["skipped"] == {}
    assert reports["paper"]["selection"] == "one_annorect"  # no single_person: the fallback, and the report says so
    ds = load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "hf"))
    ex = ds["train"][0]
    assert ex["video_index"] == -1 and ex["activity"] == "" and ex["category"] == ""
    assert (ex["original_width"], ex["original_height"]) == (96, 72)


def test_builder_is_usable_directly_with_config_overrides(tmp_path):
    root = simple_release(tmp_path / "mpii", n=5)
    builder = MpiiPoseCaption(
        config_name="paper",
        data_dir=str(root),
        cache_dir=str(tmp_path / "c"),
        image_size=64,
        simple_joints=("head", "lwri"),
        validation_ratio=0.4,
    )
    builder.download_and_prepare()
    ds = builder.as_dataset()
    assert (len(ds["train"]), len(ds["validation"])) == (3, 2)
    ex = ds["train"][0]
    assert ex["image"].size == (64, 64)
    assert parse_coords(ex["simple_text"]).found.nonzero()[0].tolist() == [9, 15]


def test_work_dir_keeps_the_callers_files(tmp_path):
    """The builder works in a subfolder it makes; what else is in the caller's folder is left alone."""
    root = simple_release(tmp_path / "mpii", n=5)
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("not the builder's")
    builder = MpiiPoseCaption(
        config_name="paper", data_dir=str(root), cache_dir=str(tmp_path / "c"), work_dir=work, image_size=32
    )
    builder.download_and_prepare()
    assert (work / "keep.txt").read_text() == "not the builder's"
    assert builder.work_dir.parent == work
    assert read_build_report(builder.work_dir)["examples"] == {"train": 4, "validation": 1}


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="unknown joint name 'nose'"):
        MpiiPoseCaption(config_name="paper", simple_joints=("nose",))
    with pytest.raises(ValueError, match="validation_ratio"):
        MpiiPoseCaption(config_name="paper", validation_ratio=1.0)
    with pytest.raises(ValueError, match="split_by"):
        MpiiPoseCaption(config_name="paper", split_by="frame")


def test_image_split_is_exact_seeded_and_groups_stay_together():
    groups = [(group_key("image", i, None), 1) for i in range(100)]
    a, b = validation_groups(groups, 0.2, seed=1), validation_groups(groups, 0.2, seed=1)
    assert a == b and len(a) == 20
    assert validation_groups(groups, 0.2, seed=2) != a
    videos = [(group_key("video", i, i // 7), 1) for i in range(70)]  # 10 videos of 7 frames
    chosen = validation_groups(videos, 0.2, seed=0)
    assert all(k[0] == "video" for k in chosen) and 14 <= 7 * len(chosen) <= 14 + 7
    no_video = [(group_key("video", i, None), 1) for i in range(10)]  # images without vididx: own groups
    assert len(validation_groups(no_video, 0.3, seed=0)) == 3
    with pytest.raises(ValueError, match="too few"):
        validation_groups([(group_key("video", i, 1), 1) for i in range(5)], 0.2, seed=0)
