"""``python -m blip_pose predict`` end to end on the saved tiny preset: records, overlays, failures counted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pose_model_fixtures import SAMPLE_IMAGES, copy_model, drawn_image

from blip_pose.cli import main
from blip_pose.geometry import Preprocessing
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import render_coords
from blip_pose.predict_files import JSONL_FILE, expand_inputs, output_stems
from blip_pose.predictor import PosePredictor


def bad_files(folder):
    text = folder / "notes.jpg"
    text.write_text("not an image")
    cut = folder / "cut.jpg"
    cut.write_bytes(SAMPLE_IMAGES[0].read_bytes()[:3000])
    return [text, cut, folder / "missing.png"]


def test_many_images_give_jsonl_in_input_order_and_overlays(model_dir, tmp_path, capsys):
    good = [SAMPLE_IMAGES[0], drawn_image(tmp_path / "gray.png", (90, 60), "L"), SAMPLE_IMAGES[1]]
    text, cut, missing = bad_files(tmp_path)
    inputs = [good[0], text, good[1], cut, missing, good[2]]
    out = tmp_path / "preds"
    status = main(["predict", "--model", str(model_dir), *map(str, inputs), "--out", str(out), "--batch-size", "2"])
    assert status == 1  # some failed; the rest was predicted
    records = [json.loads(line) for line in (out / JSONL_FILE).read_text().splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in inputs]
    assert [r.get("reason") for r in records] == [None, "not_an_image", None, "corrupt_image", "missing_image", None]
    for record, path in zip((records[0], records[2], records[5]), good):
        assert [j["name"] for j in record["joints"]] == list(MPII16.captions)
        with Image.open(path) as im:
            assert (record["width"], record["height"]) == im.size
        overlay = out / f"{path.stem}.png"
        with Image.open(overlay) as im:
            zoom = im.width // record["width"]  # a small image is drawn enlarged by a whole factor
            assert im.size == (record["width"] * zoom, record["height"] * zoom)
            assert min(im.size) >= 256
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{p.stem}.png" for p in good)
    err = capsys.readouterr().err
    for path in (text, cut, missing):
        assert f"error: {path}" in err
    assert "6/6" in err  # the progress bar
    assert "predicted 3 of 6 image(s); 3 failed (corrupt_image: 1, missing_image: 1, not_an_image: 1)" in err


def test_one_image_gives_the_same_jsonl_and_all_missing_is_drawn(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(PosePredictor, "generate", lambda self, frames: ["no joints here"] * len(frames))
    image = drawn_image(tmp_path / "person.png", (200, 120))
    out = tmp_path / "one"
    assert main(["predict", "--model", str(model_dir), str(image), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["person.png", JSONL_FILE]  # one format whatever the count
    (record,) = [json.loads(line) for line in (out / JSONL_FILE).read_text().splitlines()]
    assert record["caption"] == "no joints here"
    assert all(not j["found"] and j["x"] is None and j["y"] is None for j in record["joints"])
    with Image.open(out / "person.png") as drawn, Image.open(image) as original:
        # A small image is drawn 3x larger (legible text); nothing drawn but the header and the missing-joint note.
        assert drawn.size == (600, 360)
        enlarged = original.convert("RGB").resize(drawn.size, Image.Resampling.NEAREST)
        diff = np.abs(np.asarray(drawn, dtype=int) - np.asarray(enlarged, dtype=int)).sum(-1)
        rows = np.flatnonzero(diff.any(1))
        assert rows.min() == 0 and rows.max() == 359  # the header and the bottom note
        assert not diff[60:300].any()


def test_folder_input_and_crop_boxes(model_dir, tmp_path, monkeypatch):
    crop = copy_model(model_dir, tmp_path / "crop", Preprocessing("crop", 384, 1.0))
    points = np.tile([[192.0, 192.0]], (16, 1))  # the crop centre
    monkeypatch.setattr(PosePredictor, "generate", lambda self, frames: [render_coords(points)] * len(frames))
    photos = tmp_path / "photos"
    photos.mkdir()
    drawn_image(photos / "a.png", (300, 200))
    drawn_image(photos / "b.jpg", (300, 200))
    (photos / "readme.txt").write_text("skipped: not an image extension")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.png": [100, 50, 140, 130], str(photos / "b.jpg"): [0, 0, 30, 30]}))
    out = tmp_path / "preds"
    args = ["predict", "--model", str(crop), str(photos), "--out", str(out), "--boxes", str(boxes), "--no-overlays"]
    assert main(args) == 0
    records = [json.loads(line) for line in (out / JSONL_FILE).read_text().splitlines()]
    assert [(r["joints"][0]["x"], r["joints"][0]["y"]) for r in records] == [(120.0, 90.0), (15.0, 15.0)]
    assert not list(out.glob("*.png"))
    boxes.write_text(json.dumps({"c.png": [0, 0, 1, 1]}))
    assert main(args) == 2  # a box for an image that is not an input


@pytest.mark.parametrize(
    "text",
    [
        '{"a.png": 5}',
        '{"a.png": {"center": [10, 20]}}',
        '{"a.png": {"center": [10, 20], "scale": 0}}',
        '{"a.png": {"center": "middle", "scale": 1}}',
        '{"a.png": [10, 10, 5, 20]}',
        '{"a.png": [0, 0, NaN, 1]}',
        '{"a.png": [0, 0, 1]}',
        '{"a.png": [0, 0, true, 1]}',
    ],
)
def test_bad_boxes_end_with_one_error_line(model_dir, tmp_path, capsys, text):
    image = drawn_image(tmp_path / "a.png", (60, 40))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(text)
    args = ["predict", "--model", str(model_dir), str(image), "--out", str(tmp_path / "out"), "--boxes", str(boxes)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {boxes}: box for 'a.png' must be [x0, y0, x1, y1]") and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before the model is loaded or anything written


def test_missing_box_file_is_named(model_dir, tmp_path, capsys):
    image = drawn_image(tmp_path / "a.png", (60, 40))
    args = ["predict", "--model", str(model_dir), str(image), "--boxes", str(tmp_path / "nope.json")]
    assert main(args) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nope.json'}: no such box file\n"


def test_input_helpers(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        expand_inputs([tmp_path])
    assert output_stems([tmp_path / "a/x.jpg", tmp_path / "b/x.jpg", tmp_path / "x.png"]) == ["x", "x-1", "x-2"]


def test_output_stems_never_repeat_a_name(tmp_path):
    # "a-1" is both the suffixed name of the second "a" and the third input's own stem.
    stems = output_stems([tmp_path / "x/a.jpg", tmp_path / "y/a.png", tmp_path / "a-1.jpg"])
    assert stems == ["a", "a-1", "a-1-1"]
    assert len(set(stems)) == 3
