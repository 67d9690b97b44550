"""compute_metrics: accuracy@T and mae in the model's 384 px frame, PCKh@0.5 in the original image's pixels."""

import numpy as np
import pytest
from transformers import EvalPrediction

from blip_pose.geometry import crop_transform, resize_transform, to_original_frame
from blip_pose.pose_format import render_coords
from blip_pose.presets import build_processor
from blip_pose.training.data import References
from blip_pose.training.evaluation import PoseMetrics, load_pose_metric

# A 1280x720 frame stretched to 384x384: one processed pixel is 3.33 px wide and 1.875 px tall in the original.
FRAME = resize_transform(1280, 720, 384)


@pytest.fixture(scope="module")
def tokenizer():
    return build_processor(128).tokenizer


def ids(tokenizer, captions, pad):
    encoded = tokenizer(captions, padding="longest")["input_ids"]
    return np.where(np.array(encoded) == tokenizer.pad_token_id, pad, np.array(encoded))


def test_pckh_is_scored_in_original_pixels_and_accuracy_in_the_model_frame(tokenizer):
    rng = np.random.default_rng(0)
    ref = rng.integers(40, 340, (3, 16, 2)).astype(float)  # processed frame, whole pixels: captions are exact
    pred = ref + [0, 13]  # 13 processed px down = 24.4 original px
    # A 60x60 px head in the original (head size 0.6 * 84.9 = 50.9, PCKh radius 25.5 px): 24.4 px is a hit.
    # In the stretched frame that box is 18x32 (radius 11.0 px) and 13 px would be a miss.
    head_original = np.array([[500.0, 100.0, 560.0, 160.0]] * 3)
    head = FRAME.forward(head_original.reshape(-1, 2, 2)).reshape(-1, 4)
    captions = [render_coords(p) for p in ref]
    refs = References(
        names=["a", "b", "c"],
        captions=captions,
        xy=ref,
        found=np.ones((3, 16), bool),
        sizes=np.full((3, 2), 384.0),
        head_boxes=head,
        crop_boxes=np.array([FRAME.box] * 3),
    )
    metrics = PoseMetrics(tokenizer, refs, "text", load_pose_metric(), output_dir=None)
    scores = metrics(
        EvalPrediction(
            predictions=ids(tokenizer, [render_coords(p) for p in pred], tokenizer.pad_token_id),
            label_ids=ids(tokenizer, captions, -100),
        )
    )
    assert scores["mae"] == pytest.approx(13.0)
    assert scores["accuracy@25"] == 1.0 and scores["accuracy@5"] == 0.0
    assert scores["pckh@0.5"] == 1.0

    # Without crop boxes the split's own frame is all there is, and the stretched radius misses.
    refs.crop_boxes = None
    scores = metrics(
        EvalPrediction(
            predictions=ids(tokenizer, [render_coords(p) for p in pred], tokenizer.pad_token_id),
            label_ids=ids(tokenizer, captions, -100),
        )
    )
    assert scores["pckh@0.5"] == 0.0


def test_to_original_frame_matches_the_per_image_inverse():
    transforms = [FRAME, crop_transform((300, 200), 1.7, 384), resize_transform(480, 360, 384)]
    points = np.random.default_rng(1).uniform(0, 384, (3, 16, 2))
    points[0, 3] = np.nan
    batched = to_original_frame(points, [t.box for t in transforms], [(384, 384)] * 3)
    for t, p, b in zip(transforms, points, batched):
        np.testing.assert_allclose(b, t.inverse(p), equal_nan=True)


def test_overlays_of_two_people_in_one_image_are_both_kept(tmp_path):
    from PIL import Image

    from blip_pose.training.plots import write_overlays

    xy = np.random.default_rng(2).uniform(0, 64, (2, 16, 2))
    paths = write_overlays(
        [Image.new("RGB", (64, 64))] * 2, ["same.jpg", "same.jpg"], xy, np.ones((2, 16), bool), xy, tmp_path
    )
    assert len(set(paths)) == 2 and all(p.is_file() for p in paths)
