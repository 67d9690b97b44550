"""PosePredictor on the saved tiny preset: loading (local folder and Hub cache alike), joints in original pixels,
the exact inverse of both preprocessing modes, and every bad input of the issue."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from pose_model_fixtures import SAMPLE_IMAGES, as_hub_cache, copy_model, drawn_image

from blip_pose import PosePrediction, PosePredictor
from blip_pose.geometry import Preprocessing
from blip_pose.images import ImageError
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import render_coords, render_normalized

# Processed-frame (384 px) points with integer coordinates, as a caption writes them.
FRAME_POINTS = np.stack(
    [np.arange(MPII16.num_keypoints) * 20 + 10, 380 - np.arange(MPII16.num_keypoints) * 17], axis=1
).astype(float)


@pytest.fixture(scope="module")
def predictor(model_dir):
    return PosePredictor.from_pretrained(model_dir, device="cpu")


def fixed_captions(predictor, monkeypatch, caption: str) -> list:
    """Make generation return ``caption`` for every image; returns the list of frames the model was given."""
    seen: list = []

    def generate(frames):
        seen.extend(frames)
        return [caption] * len(frames)

    monkeypatch.setattr(predictor, "generate", generate)
    return seen


def test_predicts_sample_images_from_a_local_folder(predictor):
    images = SAMPLE_IMAGES[:2]
    results = predictor(images, batch_size=2)
    assert isinstance(results, list) and len(results) == 2
    for path, result in zip(images, results):
        assert isinstance(result, PosePrediction)
        with Image.open(path) as im:
            assert (result.width, result.height) == im.size
        assert [j.name for j in result.joints] == list(MPII16.captions)
        assert isinstance(result.caption, str) and result.source == str(path)
        assert result.xy.shape == (MPII16.num_keypoints, 2) and result.found.shape == (MPII16.num_keypoints,)
        assert np.isnan(result.xy[~result.found]).all() and np.isfinite(result.xy[result.found]).all()
    # One at a time, as a PIL image or a path: the same greedy captions as in a batch.
    single = predictor(Image.open(images[1]), batch_size=1)
    assert isinstance(single, PosePrediction) and single.caption == results[1].caption


def test_hub_id_loads_exactly_like_the_local_folder(model_dir, predictor, tmp_path):
    cache = as_hub_cache(model_dir, tmp_path / "hub", "someone/blip-mpii-pose")
    from_hub = PosePredictor.from_pretrained("someone/blip-mpii-pose", cache_dir=cache, device="cpu")
    assert from_hub.preprocessing == predictor.preprocessing == Preprocessing()
    image = SAMPLE_IMAGES[0]
    a, b = from_hub(image), predictor(image)
    assert a.caption == b.caption and np.array_equal(a.xy, b.xy, equal_nan=True)


@pytest.mark.parametrize("size", [(768, 1536), (640, 360)])
def test_resize_inverse_maps_caption_points_to_original_pixels(predictor, monkeypatch, tmp_path, size):
    frames = fixed_captions(predictor, monkeypatch, render_coords(FRAME_POINTS))
    result = predictor(drawn_image(tmp_path / "p.png", size))
    expected = FRAME_POINTS * np.array(size) / 384
    if size == (768, 1536):  # power-of-two scales: exact in floating point
        assert np.array_equal(result.xy, expected)
    np.testing.assert_allclose(result.xy, expected, rtol=0, atol=1e-9)
    assert result.found.all() and frames[0].size == (384, 384)


def test_crop_inverse_with_person_boxes(model_dir, monkeypatch, tmp_path):
    crop = PosePredictor.from_pretrained(copy_model(model_dir, tmp_path / "crop", Preprocessing("crop", 384, 1.0)))
    frames = fixed_captions(crop, monkeypatch, render_coords(FRAME_POINTS))
    image = drawn_image(tmp_path / "p.png", (640, 480))
    # A 200 x 384 box: square side 384 (padding 1.0) around its centre (400, 292) -> crop box starts at (208, 100).
    by_box, by_center = crop([image, image], person_boxes=[(300, 100, 500, 484), {"center": (400, 292), "scale": 1.92}])
    assert np.array_equal(by_box.xy, FRAME_POINTS + [208, 100])
    np.testing.assert_allclose(by_center.xy, FRAME_POINTS + [208, 100], rtol=0, atol=1e-9)
    assert all(frame.size == (384, 384) for frame in frames)
    single = crop(image, person_boxes=(300, 100, 500, 484))
    assert np.array_equal(single.xy, by_box.xy)


def test_crop_without_box_uses_a_centred_square_and_warns(model_dir, monkeypatch, tmp_path, caplog):
    crop = PosePredictor.from_pretrained(copy_model(model_dir, tmp_path / "crop", Preprocessing("crop", 384, 1.25)))
    fixed_captions(crop, monkeypatch, render_coords(FRAME_POINTS))
    with caplog.at_level(logging.WARNING, logger="blip_pose.predictor"):
        result = crop(drawn_image(tmp_path / "p.png", (640, 360)))
    assert "centred square" in caplog.text
    # Square of side 640 centred on the image: box (0, -140, 640, 500), scale 384 / 640.
    np.testing.assert_allclose(result.xy, FRAME_POINTS * 640 / 384 + [0, -140], rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="x1 > x0"):
        crop(drawn_image(tmp_path / "p.png", (640, 360)), person_boxes=(10, 10, 5, 50))


def test_normalized_caption_kind_from_run_config(model_dir, monkeypatch, tmp_path):
    folder = copy_model(model_dir, tmp_path / "norm", Preprocessing())
    (folder / "run_config.json").write_text(json.dumps({"data": {"caption_column": "normalized_text"}}))
    norm = PosePredictor.from_pretrained(folder)
    assert norm.caption_column == "normalized_text"
    fixed_captions(norm, monkeypatch, render_normalized(FRAME_POINTS, 384, 384))
    result = norm(drawn_image(tmp_path / "p.png", (768, 1536)))
    # 3 decimals of the frame size: within half a thousandth of the frame, in original pixels.
    np.testing.assert_allclose(result.xy, FRAME_POINTS * [2, 4], atol=0.0005 * 1536)
    (folder / "run_config.json").write_text(json.dumps({"caption_column": "visibility_text"}))
    with pytest.raises(ValueError, match="visibility_text"):
        PosePredictor.from_pretrained(folder)


def test_caption_that_parses_to_nothing_gives_all_missing(predictor, monkeypatch, tmp_path):
    fixed_captions(predictor, monkeypatch, "a person standing , 12 . [unused] rankl : x")
    result = predictor(drawn_image(tmp_path / "p.png"))
    assert not result.found.any() and np.isnan(result.xy).all()
    assert all(j.x is None and j.y is None for j in result.joints)
    assert json.loads(json.dumps(result.to_dict()))["joints"][0]["found"] is False


def test_missing_preprocessing_record_falls_back_to_resize_384(model_dir, tmp_path, caplog):
    folder = copy_model(model_dir, tmp_path / "bare", None)
    with caplog.at_level(logging.WARNING, logger="blip_pose.predictor"):
        bare = PosePredictor.from_pretrained(folder)
    assert bare.preprocessing == Preprocessing("resize", 384)
    assert "no preprocessing.json" in caplog.text and str(folder) in caplog.text


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("CMYK", ".jpg"), ("RGBA", ".png"), ("P", ".png")])
def test_grayscale_cmyk_rgba_images_become_rgb(predictor, monkeypatch, tmp_path, mode, suffix):
    frames = fixed_captions(predictor, monkeypatch, render_coords(FRAME_POINTS))
    result = predictor(drawn_image(tmp_path / f"p{suffix}", (120, 80), mode=mode))
    assert (result.width, result.height) == (120, 80)
    assert frames[0].mode == "RGB" and frames[0].size == (384, 384)


def test_exif_orientation_is_honoured(predictor, monkeypatch, tmp_path):
    # Stored 200x100, left half red and right half blue; orientation 6 shows it turned 90 degrees clockwise.
    stored = Image.new("RGB", (200, 100), "blue")
    stored.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    frames = fixed_captions(predictor, monkeypatch, render_coords(FRAME_POINTS))
    result = predictor(path)
    assert (result.width, result.height) == (100, 200)  # upright
    top, bottom = frames[0].getpixel((192, 20)), frames[0].getpixel((192, 364))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60  # red above blue
    np.testing.assert_allclose(result.xy, FRAME_POINTS * [100 / 384, 200 / 384], rtol=0, atol=1e-9)


def test_unreadable_files_raise_an_error_naming_them(predictor, tmp_path, monkeypatch):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="notes.jpg") as err:
        predictor(text)
    assert err.value.reason == "not_an_image"
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(SAMPLE_IMAGES[0].read_bytes()[:2000])
    with pytest.raises(ImageError, match="cut.jpg"):
        predictor(truncated)
    with pytest.raises(ImageError, match="missing.jpg"):
        predictor(tmp_path / "missing.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # PIL's guard kept: an image over the limit is refused
    with pytest.raises(ImageError) as err:
        predictor(drawn_image(tmp_path / "big.png", (120, 80)))
    assert err.value.reason == "decompression_bomb"


def test_device_and_dtype_options(model_dir):
    half = PosePredictor.from_pretrained(model_dir, device="cpu", dtype="bfloat16")
    assert half.model.dtype == torch.bfloat16 and half.device.type == "cpu"
    assert isinstance(half(SAMPLE_IMAGES[0]).caption, str)
    with pytest.raises(ValueError, match="dtype"):
        PosePredictor.from_pretrained(model_dir, dtype="int8")
