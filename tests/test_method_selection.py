"""The method's own data rules on generated MPII releases: which person of which image is kept (single_person, and
the annolist-only fallback), empty is_visible read as visible, and MATLAB 1-based coordinates made 0-based once,
from the .mat file through the caption to the predictor's answer."""

from __future__ import annotations

import numpy as np
import pytest
from _mpii_release import W, entry, person, picture, pose, write
from datasets import load_dataset
from pose_model_fixtures import copy_model

from blip_pose import PosePredictor
from blip_pose.geometry import MATLAB_ORIGIN, BoxTransform, Preprocessing, inside_image
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import parse_visibility
from mpii_pose_dataset.builder import MpiiPoseCaption
from mpii_pose_dataset.examples import METHOD_SIMPLE_JOINTS
from mpii_pose_dataset.export import build, format_report

GOOD = 5  # plain single-person images, so both splits of every build are non-empty


def _build(tmp_path, annolist, images, **release):
    """Build ``paper`` from the release; returns its report and its rows (both splits) by image name."""
    root = write(tmp_path / "mpii", annolist, images, **release)
    report = build(tmp_path / "out", data_dir=root, num_proc=1, cache_dir=tmp_path / "cache")["paper"]
    ds = load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "hf"))
    return report, {ex["image_name"]: ex for split in ds.values() for ex in split}


def _good(names: list[str]) -> tuple[list[dict], dict]:
    annolist = [entry(n, [person(pose(seed=k))]) for k, n in enumerate(names)]
    return annolist, {n: picture(seed=k) for k, n in enumerate(names)}


def _original(ex: dict) -> np.ndarray:
    """The row's joints mapped back to original 0-based pixels."""
    pts = np.asarray(ex["joint_points"], dtype=float)
    return BoxTransform(tuple(ex["crop_box"]), ex["width"], ex["height"]).inverse(pts)[:, :2]


def test_single_person_picks_that_annorect_and_skips_empty_or_several(tmp_path):
    names = [f"good{k}.jpg" for k in range(GOOD)]
    annolist, images = _good(names)
    first, second = pose(seed=11), pose(seed=12)
    annolist += [
        entry("two.jpg", [person(first), person(second)]),  # single_person names the second only
        entry("empty.jpg", [person(pose(seed=13))]),  # one annorect, but single_person is empty
        entry("both.jpg", [person(pose(seed=14)), person(pose(seed=15))]),  # both persons apart: not one
    ]
    images |= {n: picture(seed=20 + k) for k, n in enumerate(("two.jpg", "empty.jpg", "both.jpg"))}
    report, rows = _build(tmp_path, annolist, images, single_person=[[1]] * GOOD + [[2], [], [1, 2]])
    assert report["selection"] == "single_person"
    assert report["skipped"] == {"no_single_person": 1, "not_single_person": 1}
    assert set(rows) == {*names, "two.jpg"}
    assert rows["two.jpg"]["person_index"] == 1
    np.testing.assert_allclose(_original(rows["two.jpg"]), second[:, :2] - MATLAB_ORIGIN, atol=0.01)
    assert "note:" not in format_report(report)


def test_release_without_single_person_falls_back_to_one_annorect_and_says_so(tmp_path):
    names = [f"good{k}.jpg" for k in range(GOOD)]
    annolist, images = _good(names)
    annolist.append(entry("two.jpg", [person(pose(seed=11)), person(pose(seed=12))]))
    images["two.jpg"] = picture(seed=30)
    report, rows = _build(tmp_path, annolist, images)  # annolist only: no single_person field
    assert report["selection"] == "one_annorect"
    assert report["skipped"] == {"not_single_person": 1} and set(rows) == set(names)
    summary = format_report({**report, "config": "paper"})
    assert "[paper] note: the release has no single_person: images with exactly one annotated person" in summary
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Persons kept: the release has no single_person" in card


def test_empty_is_visible_counts_as_visible_and_is_counted(tmp_path):
    names = [f"good{k}.jpg" for k in range(GOOD)]
    annolist, images = _good(names)
    blank = person(pose(seed=0))
    for j in (10, 15):  # wrists: is_visible = []
        blank["annopoints"]["point"][j]["is_visible"] = None
    blank["annopoints"]["point"][3]["is_visible"] = 0  # a real 0 stays 0
    annolist[0] = entry(names[0], [blank])
    report, rows = _build(tmp_path, annolist, images, single_person=[[1]] * GOOD)
    assert report["skipped"] == {} and report["visibility_defaulted"] == 2
    vis = np.asarray(rows[names[0]]["joint_points"])[:, 2]
    assert vis[10] == vis[15] == 1 and vis[3] == 0
    assert parse_visibility(rows[names[0]]["visibility_text"])[0][[3, 10, 15]].tolist() == [0, 1, 1]
    assert "empty is_visible read as visible (1): 2 joints" in format_report({**report, "config": "paper"})


def test_inside_image_is_half_open():
    xy = np.array([[0, 0], [W - 1e-6, 5], [W, 5], [-1e-6, 5], [5, 72], [np.nan, 5]])
    assert inside_image(xy, W, 72).tolist() == [True, True, False, False, False, False]


def test_one_based_file_to_zero_based_caption_and_back_through_the_predictor(tmp_path, model_dir, monkeypatch):
    """Hand case: a 768x384 image resized to 384x384 (x halves, y stays). MATLAB (101, 51) is pixel (100, 50),
    processed (50, 50): the caption says ``rankl:50,50``; the predictor maps that caption back to (100, 50)."""
    size = (768, 384)
    hand = pose(*size, seed=1)
    hand[0, :2] = (101, 51)
    last_column, past_it = pose(*size, seed=2), pose(*size, seed=3)
    last_column[1, 0] = size[0]  # MATLAB x = width: the centre of the last column, 0-based width - 1: inside
    past_it[1, 0] = size[0] + 1  # 0-based x = width: one column past the image
    annolist = [entry(f"{n}.jpg", [person(p)]) for n, p in (("hand", hand), ("last", last_column), ("past", past_it))]
    annolist += [entry(f"good{k}.jpg", [person(pose(*size, seed=10 + k))]) for k in range(GOOD)]
    images = {a["image"]["name"]: picture(*size, seed=k) for k, a in enumerate(annolist)}
    report, rows = _build(tmp_path, annolist, images, single_person=[[1]] * len(annolist))
    assert report["skipped"] == {"joint_outside_image": 1} and "past.jpg" not in rows
    assert rows["last.jpg"]["joint_points"][1][0] == pytest.approx((size[0] - 1) / 2)
    ex = rows["hand.jpg"]
    assert ex["crop_box"] == [0, 0, 768, 384] and ex["joint_points"][0][:2] == [50.0, 50.0]
    assert ex["text"].startswith("rankl:50,50 ")
    # The predictor: the same caption, for the same image, comes back in the original 0-based pixels.
    predictor = PosePredictor.from_pretrained(copy_model(model_dir, tmp_path / "m", Preprocessing()), device="cpu")
    monkeypatch.setattr(predictor, "generate", lambda frames: [ex["text"]] * len(frames))  # the model's answer
    result = predictor(tmp_path / "mpii" / "images" / "hand.jpg")
    assert (result.width, result.height) == size
    assert result.xy[0].tolist() == [100.0, 50.0]  # + MATLAB_ORIGIN = the file's (101, 51)
    np.testing.assert_allclose(result.xy, hand[:, :2] - MATLAB_ORIGIN, atol=1.0)  # caption rounding: <= 0.5 px * 2


def test_method_five_simple_joints_are_a_valid_simple_joints_value():
    """The notebook's variant (head, knees, elbows), as documented for ``--simple-joints``."""
    assert list(MPII16.ids(METHOD_SIMPLE_JOINTS)) == [1, 4, 9, 11, 14]  # captions write them in MPII id order
    assert MpiiPoseCaption(config_name="paper", simple_joints=METHOD_SIMPLE_JOINTS).config.simple_joints == (
        METHOD_SIMPLE_JOINTS
    )
