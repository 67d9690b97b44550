"""Issue 23: a COCO-keypoints file becomes a caption dataset through the build core (``python -m coco_pose_dataset
build``): top-down person crops, every caption column of the file's keypoint set, the columns that score in the
original image, the card's keypoint set and source, given or seeded splits, one-line errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from blip_pose.geometry import to_original_frame
from blip_pose.keypoints import KEYPOINTS_CARD_KEY, KeypointSpec
from blip_pose.keypoints.coco import COCO17
from blip_pose.pose_format import render_captions
from coco_pose_dataset.cli import main
from coco_pose_dataset.reader import read_coco_keypoints
from coco_pose_dataset.synthetic import write_synthetic_coco
from pose_dataset import get_source
from pose_dataset.export import load_reports

SIZE = 64


@pytest.fixture(scope="module")
def person_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("coco") / "person"
    assert main(["build", "--synthetic", "12", "--output", str(out), "--num-proc", "1", "--image-size", str(SIZE)]) == 0
    return out


def test_a_synthetic_coco_person_file_builds_top_down_crops_with_coco17_captions(person_build):
    ds = load_dataset(str(person_build))
    card = DatasetCard.load(person_build / "README.md").data.to_dict()
    assert KeypointSpec.from_dict(card[KEYPOINTS_CARD_KEY]["top_down"]) == COCO17
    assert card["pose_dataset_source"]["top_down"]["kind"] == "coco"
    assert card["pose_dataset_source"]["top_down"]["synthetic"] is True  # drawn by coco_pose_dataset.synthetic
    assert card["pose_dataset_source"]["top_down"]["frames"] == 12 and "synthetic" in card["tags"]
    assert len(card["pose_dataset_source"]["top_down"]["annotation_sha256"]) == 64
    report = load_reports(person_build)["top_down"]
    assert report["format"] == "coco" and report["recipe"]["mode"] == "crop"
    assert report["skipped"]["unlabelled_keypoints"] > 0  # synthetic people reaching past the bottom edge
    assert sum(report["examples"].values()) == ds["train"].num_rows + ds["validation"].num_rows
    train_ids, val_ids = set(ds["train"]["image_id"]), set(ds["validation"]["image_id"])
    assert train_ids and val_ids and not train_ids & val_ids  # split by image: a picture on one side only
    for row in ds["validation"]:
        points = np.asarray(row["joint_points"])
        assert points.shape == (17, 3) and row["image"].size == (SIZE, SIZE)
        captions = render_captions(points[:, :2], points[:, 2].astype(int), SIZE, SIZE, spec=COCO17)
        assert row["text"] == captions["text"] and row["loc_text"] == captions["loc_text"]
        assert row["text"].startswith("nose:") and " right_ankle:" in row["text"]
        coco = np.asarray(row["coco_keypoints"])
        # v=2 visible -> 1, v=1 occluded -> 0; never an unlabelled keypoint
        assert (coco[:, 2] > 0).all() and (points[:, 2] == (coco[:, 2] == 2)).all()
        back = to_original_frame(points[None, :, :2], np.asarray([row["crop_box"]]), np.array([[SIZE, SIZE]]))[0]
        assert np.allclose(back, coco[:, :2], atol=1e-3)  # the crop maps back onto COCO's original pixels
        x, y, w, h = row["person_box"]
        x0, y0, x1, y1 = row["crop_box"]
        assert np.isclose(x1 - x0, max(w, h) * 1.25, rtol=1e-4) and np.isclose((x0 + x1) / 2, x + w / 2, atol=1e-3)


def test_a_star_set_with_given_train_and_validation_files(tmp_path):
    train_json = write_synthetic_coco(tmp_path / "a", 6, seed=1, kind="star")
    val_dir = tmp_path / "a" / "val"
    val_json = write_synthetic_coco(val_dir, 3, seed=2, kind="star")
    (tmp_path / "a" / "images").joinpath("x").mkdir()  # the images folder may hold other things
    for image in (val_dir / "images").iterdir():  # one images folder for both files, as COCO's own layout
        image.rename(tmp_path / "a" / "images" / f"val_{image.name}")
    data = json.loads(val_json.read_text())
    for entry in data["images"]:
        entry["file_name"] = f"val_{entry['file_name']}"
    val_json.write_text(json.dumps(data))
    out = tmp_path / "stars"
    argv = ["build", "--coco-json", str(train_json), "--coco-json", str(val_json), "--images", str(tmp_path / "a" /
            "images"), "--output", str(out), "--num-proc", "1", "--image-size", str(SIZE)]  # fmt: skip
    assert main(argv) == 0
    ds = load_dataset(str(out))
    expected = read_coco_keypoints(val_json, tmp_path / "a" / "images")
    complete = [p for p in expected.persons if (p.keypoints[:, 2] > 0).all()]
    assert ds["validation"].num_rows == len(complete)  # the validation file as given
    spec = KeypointSpec.from_dict(load_reports(out)["top_down"]["keypoints"])
    assert spec.name == "star" and spec.captions == ("top", "right_arm", "right_leg", "left_leg", "left_arm")
    assert ds["train"][0]["text"].startswith("top:")
    source = load_reports(out)["top_down"]["source"]
    assert source["val_annotation_file"] == val_json.name and source["kind"] == "coco"
    assert source["synthetic"] is True and source["frames"] == 6  # the training file's generator record


def test_the_coco_format_is_built_in():
    assert get_source("coco").default_config == "top_down"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--coco-json", "{json}", "--images", "{tmp}/nope"], "--images: .*nope is not a folder"),
        (["--coco-json", "{tmp}/missing.json", "--images", "{tmp}"], "missing.json: no such file"),
        (["--coco-json", "{bad}", "--images", "{tmp}"], "bad.json: not COCO keypoints"),
        (["--coco-json", "{json}"], "--images: the folder of the file's images is required"),
        (
            ["--coco-json", "{json}", "--coco-json", "{json}", "--val-json", "{json}", "--images", "{tmp}"],
            "give one file, or two .train, validation., or one with --val-json",
        ),
        (
            ["--coco-json", "{json}", "--images", "{tmp}/images", "--category", "cat"],
            "no category 'cat' with keypoints",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    json_path = write_synthetic_coco(tmp_path, 2, kind="star")
    (tmp_path / "bad.json").write_text('{"images": []}')
    argv = [a.format(json=json_path, tmp=tmp_path, bad=tmp_path / "bad.json") for a in argv]
    assert main(["build", *argv, "--output", str(tmp_path / "out"), "--num-proc", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert re.search(message, err), err


def test_a_coco_source_is_synthetic_only_while_its_generator_record_names_the_file(tmp_path):
    json_path = write_synthetic_coco(tmp_path, 2, kind="star")
    coco = get_source("coco")
    assert coco.source(json_path)["synthetic"] is True
    json_path.write_text(json_path.read_text() + " ")  # edited after drawing: a file of its own
    assert "synthetic" not in coco.source(json_path) and coco.source(json_path)["kind"] == "coco"
