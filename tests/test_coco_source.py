"""COCO-keypoints files as a source: the COCO-17 set, a keypoint set from any category, the synthetic COCO-format
source and the reader's checks (one-line errors naming file and field, counted skips)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from pycocotools.cocoeval import Params

from blip_pose.keypoints import KeypointSpec, get_spec
from blip_pose.keypoints.coco import (
    COCO17,
    COCO17_NAMES,
    COCO17_SKELETON_1BASED,
    DEFAULT_SIGMA,
    caption_token,
    infer_flip_pairs,
    spec_from_coco_category,
)
from coco_pose_dataset.reader import read_coco_keypoints
from coco_pose_dataset.synthetic import CATEGORIES, write_synthetic_coco

COCO_PERSON = {"id": 1, "name": "person", "keypoints": list(COCO17_NAMES), "skeleton": COCO17_SKELETON_1BASED}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("coco")
    return out, write_synthetic_coco(out, 40, seed=3), write_synthetic_coco(out, 12, seed=3, kind="star")


def test_coco17_is_registered_with_cocos_own_sigmas_sides_and_skeleton():
    assert get_spec("coco17") is COCO17
    assert np.allclose(COCO17.sigmas, Params(iouType="keypoints").kpt_oks_sigmas)  # pycocotools' own values
    for right, left in COCO17.flip_pairs:
        assert COCO17.captions[right] == COCO17.captions[left].replace("left_", "right_")
    assert len(COCO17.flip_pairs) == 8 and COCO17.captions[0] == "nose"
    assert (COCO17.captions.index("left_ankle"), COCO17.captions.index("left_knee")) in COCO17.skeleton
    assert COCO17.normalizer == "person" and KeypointSpec.from_dict(COCO17.to_dict()) == COCO17


@pytest.mark.parametrize(
    "name, token",
    [("Left-Eye", "left_eye"), ("finger 2", "finger_two"), ("kp21", "kp_twenty_one"), ("Café tip.", "cafe_tip")],
)
def test_caption_tokens_are_sanitised_names(name, token):
    assert caption_token(name) == token


@pytest.mark.parametrize("name, message", [("point 100", "below 100"), ("!!", "no letters or digits")])
def test_names_without_a_caption_token_are_refused(name, message):
    with pytest.raises(ValueError, match=message):
        caption_token(name)


def test_flip_pairs_are_read_off_side_words():
    tokens = ["nose", "l_paw", "r_paw", "eye_left", "eye_right", "left_ear", "right_ear", "right_tail"]
    assert infer_flip_pairs(tokens) == ((2, 1), (4, 3), (6, 5))


def test_cocos_person_category_is_coco17_itself():
    assert spec_from_coco_category(COCO_PERSON) is COCO17
    custom = spec_from_coco_category(COCO_PERSON, sigmas=[0.1] * 17)
    assert custom is not COCO17 and custom.sigmas == (0.1,) * 17 and custom.captions == COCO17.captions


def test_a_category_of_your_own_becomes_a_spec():
    spec = spec_from_coco_category(CATEGORIES["star"])
    assert spec.name == "star"
    assert spec.captions == ("top", "right_arm", "right_leg", "left_leg", "left_arm")
    assert spec.names[1] == "right arm"
    assert spec.skeleton[0] == (0, 2)  # [1, 3] in the file: COCO skeletons are 1-based
    assert spec.flip_pairs == ((1, 4), (2, 3))
    assert spec.sigmas == (DEFAULT_SIGMA,) * 5 and 0.06 < DEFAULT_SIGMA < 0.07
    override = spec_from_coco_category(CATEGORIES["star"], flip_pairs=[], sigmas=[0.05] * 5)
    assert override.flip_pairs == () and override.sigmas == (0.05,) * 5


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"skeleton": [[0, 1]]},
            r"skeleton pair \[0, 1\] is not two distinct ids in 1..5 \(COCO skeletons are 1-based",
        ),
        ({"skeleton": [[1, 6]]}, "1..5"),
        ({"keypoints": ["a", "b", "a"]}, "names a keypoint twice"),
        ({"keypoints": ["left eye", "left_eye"]}, "same caption token twice"),
        ({"keypoints": []}, "non-empty list"),
    ],
)
def test_bad_categories_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        spec_from_coco_category({**CATEGORIES["star"], **change}, where="f.json: category")


def test_synthetic_source_is_deterministic_and_fast(tmp_path, source):
    out, person_json, _ = source
    again = write_synthetic_coco(tmp_path / "again", 40, seed=3)
    assert again.read_bytes() == person_json.read_bytes()
    assert (tmp_path / "again" / "images" / "person_00007.png").read_bytes() == (
        out / "images" / "person_00007.png"
    ).read_bytes()
    assert write_synthetic_coco(tmp_path / "other", 40, seed=4).read_bytes() != person_json.read_bytes()
    start = time.perf_counter()
    write_synthetic_coco(tmp_path / "many", 200, seed=0)
    assert time.perf_counter() - start < 10


def test_synthetic_people_are_several_per_image_apart_with_hidden_and_unlabelled_joints(source):
    out, person_json, _ = source
    data = read_coco_keypoints(person_json, out / "images")
    assert data.spec is COCO17 and not data.skipped
    by_image: dict[int, list] = {}
    for person in data.persons:
        by_image.setdefault(person.image_id, []).append(person)
    assert len(by_image) == 40 and {len(v) for v in by_image.values()} == {2, 3}
    for persons in by_image.values():
        boxes = sorted(p.bbox for p in persons)
        assert all(a[0] + a[2] <= b[0] for a, b in zip(boxes, boxes[1:])), "boxes overlap"
    v = np.stack([p.keypoints[:, 2] for p in data.persons])
    assert (v == 1).any() and (v == 0).any() and (v == 2).mean() > 0.8
    for person in data.persons:
        xy = person.keypoints[person.keypoints[:, 2] > 0, :2]
        x, y, w, h = person.bbox
        assert (xy >= (x, y)).all() and (xy <= (x + w, y + h)).all()
        assert np.isnan(person.keypoints[person.keypoints[:, 2] == 0, :2]).all()
        assert person.num_keypoints == int((person.keypoints[:, 2] > 0).sum())


def test_the_star_set_is_read_as_its_own_spec(source):
    out, _, star_json = source
    data = read_coco_keypoints(star_json, out / "images")
    assert data.spec.name == "star" and data.spec.num_keypoints == 5 and data.category_id == 2
    assert len(data.persons) >= 12 and all(p.keypoints.shape == (5, 3) for p in data.persons)


def _edited(tmp_path, person_json, edit):
    data = json.loads(person_json.read_text())
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


def _set(path, value):
    def edit(data):
        *keys, last = path
        target = data
        for key in keys:
            target = target[key]
        target[last] = value

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("annotations"), r"not COCO keypoints \(no annotations list\)"),
        (lambda d: d["categories"][0].pop("keypoints"), "no category in 'categories' has 'keypoints'"),
        (
            _set(["annotations", 0, "keypoints"], [1.0, 2.0, 2] * 16),
            r"annotations\[0\] \(id 1\)\.keypoints: expected 51",
        ),
        (_set(["annotations", 1, "keypoints", 2], 3), r"annotations\[1\] \(id 2\)\.keypoints: visibility flags"),
        (_set(["annotations", 0, "num_keypoints"], 99), r"annotations\[0\] \(id 1\)\.num_keypoints: 99"),
        (_set(["annotations", 0, "image_id"], 999), r"annotations\[0\] \(id 1\)\.image_id: 999 is not the id"),
        (_set(["annotations", 0, "bbox"], [1, 2, 3]), r"annotations\[0\] \(id 1\)\.bbox"),
        (_set(["annotations", 2, "area"], "big"), r"annotations\[2\] \(id 3\)\.area: expected a non-negative"),
        (_set(["images", 1, "id"], 1), r"images\[1\]\.id: duplicate image id 1"),
        (_set(["images", 0, "width"], "wide"), r"images\[0\]\.width: expected int"),
        (_set(["categories", 0, "skeleton", 0], [0, 18]), r"category 'person': skeleton pair \[0, 18\]"),
    ],
)
def test_bad_files_give_one_line_errors_naming_file_and_field(tmp_path, source, edit, message):
    out, person_json, _ = source
    path = _edited(tmp_path, person_json, edit)
    with pytest.raises(ValueError, match=message) as err:
        read_coco_keypoints(path, out / "images")
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_unusable_persons_are_counted_skips(tmp_path, source):
    out, person_json, _ = source

    def edit(data):
        anns = data["annotations"]
        anns[0]["iscrowd"] = 1
        anns[1]["keypoints"] = [0] * 51
        anns[1]["num_keypoints"] = 0
        anns[2]["bbox"][2] = 0
        anns[3]["bbox"][0] = -30.0
        data["images"][-1]["file_name"] = "not_there.png"

    path = _edited(tmp_path, person_json, edit)
    total = len(json.loads(person_json.read_text())["annotations"])
    last_image = sum(a["image_id"] == 40 for a in json.loads(person_json.read_text())["annotations"])
    data = read_coco_keypoints(path, out / "images")
    expected = {"crowd": 1, "no_keypoints": 1, "empty_box": 1, "outside_image": 1, "missing_image": last_image}
    assert dict(data.skipped) == expected
    assert len(data.persons) == total - sum(expected.values())


def test_several_keypoint_categories_need_a_choice(tmp_path, source):
    out, person_json, star_json = source
    person, star = json.loads(person_json.read_text()), json.loads(star_json.read_text())
    offset = len(person["images"])
    for image in star["images"]:
        image["id"] += offset
    for ann in star["annotations"]:
        ann["image_id"] += offset
        ann["id"] += 10_000
    merged = {key: person[key] + star[key] for key in ("images", "annotations", "categories")}
    path = tmp_path / "both.json"
    path.write_text(json.dumps(merged))
    with pytest.raises(ValueError, match=r"several categories have keypoints.*'person' \(id 1\), 'star' \(id 2\)"):
        read_coco_keypoints(path, out / "images")
    stars = read_coco_keypoints(path, out / "images", category="star")
    assert stars.spec.name == "star" and len(stars.persons) == len(star["annotations"])
    assert read_coco_keypoints(path, out / "images", category=1).spec is COCO17
    with pytest.raises(ValueError, match="no category 'hand' with keypoints"):
        read_coco_keypoints(path, out / "images", category="hand")
