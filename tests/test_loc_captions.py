"""``loc_text``: 32 added coordinate tokens per caption, from the caption table through training, metric, predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_training_configs import scores_of_predictions_file
from training_fixtures import run, sample_dataset

from blip_pose.loc_tokens import add_loc_tokens, has_loc_tokens
from blip_pose.pose_format import LOC_TOKENS, parse_pixels, render_captions, render_loc
from blip_pose.pose_metrics import parse_captions
from blip_pose.predictor import PosePredictor
from blip_pose.presets import build_preset

CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "tiny_test.yaml"


@pytest.mark.parametrize("size", [384, 128])
def test_whole_pixels_round_trip_exactly(size):
    xy = np.random.default_rng(size).integers(0, size, (16, 2)).astype(float)
    caption = render_captions(xy, np.ones(16), size, size)["loc_text"]
    assert caption == render_loc(xy, size, size) and caption.count("<loc") == 32
    # As tokenizer.decode writes it: spaces between the added tokens.
    decoded = caption.replace("><", "> <")
    values, found = parse_pixels([caption, decoded], "loc_text", np.full((2, 2), float(size)))
    assert found.all() and np.array_equal(values[0], xy) and np.array_equal(values[1], xy)


def test_loc_parse_never_raises_and_marks_missing_joints():
    caption = render_loc(np.full((16, 2), 10.0), 384, 384)
    short, garbage, out_of_range = caption[: 5 * len("<loc10>")], "rankl:1,2", "<loc999>" * 32  # 2.5 joints
    _, found = parse_pixels([short, garbage, out_of_range], "loc_text", np.full((3, 2), 384.0))
    assert found[0].sum() == 2 and not found[1].any() and not found[2].any()
    with pytest.raises(ValueError, match="outside the 384x384 image"):
        render_loc(np.full((16, 2), 400.0), 384, 384)


def test_loc_tokens_are_added_once_and_start_at_their_digit_string():
    model, processor = build_preset("tiny")
    tokenizer = processor.tokenizer
    assert not has_loc_tokens(tokenizer)
    digits = tokenizer("123", add_special_tokens=False)["input_ids"]
    assert add_loc_tokens(model, tokenizer) == len(LOC_TOKENS)
    assert add_loc_tokens(model, tokenizer) == 0  # idempotent
    weights = model.get_input_embeddings().weight
    loc = tokenizer.convert_tokens_to_ids("<loc123>")
    assert np.allclose(weights[loc].detach(), weights[digits].mean(0).detach())
    assert model.config.text_config.vocab_size == len(tokenizer) == weights.shape[0]
    caption = render_loc(np.full((16, 2), 7.0), 384, 384)
    ids = tokenizer(caption)["input_ids"]
    assert len(ids) == 34  # CLS + 32 + SEP
    assert tokenizer.decode(ids, skip_special_tokens=True).count("<loc7>") == 32  # not dropped as special


def test_loc_training_run_scores_and_predicts(tmp_path):
    """4 steps on 8 sample images with loc captions, SDPA and the pixel cache: every evaluation caption parses
    (constrained decoding), the metric scores them, and the predictor reads the saved model back."""
    dataset = sample_dataset(tmp_path / "eight", n_train=8, eval_is_train=True)
    out = tmp_path / "loc"
    flags = ["--caption_column", "loc_text", "--attn_implementation", "sdpa", "--pixel_cache", "true"]
    metrics = run.main([str(CONFIG), "--dataset_name", str(dataset), "--output_dir", str(out), *flags])
    assert metrics["eval_parse_rate"] == 1.0 and np.isfinite(metrics["eval_loss"])
    final = out / "predictions" / "final.jsonl"
    written = scores_of_predictions_file(final, "loc_text")
    assert (metrics["eval_accuracy@25"], metrics["eval_mae"]) == pytest.approx((written["accuracy@25"], written["mae"]))
    captions = [json.loads(line)["caption"] for line in (out / "predictions" / "final.jsonl").open()]
    assert all(c.count("<loc") == 32 for c in captions)
    assert parse_captions(captions, "loc_text", np.full((len(captions), 2), 384.0))[1].all()

    predictor = PosePredictor.from_pretrained(out, device="cpu")
    assert predictor.caption_column == "loc_text"
    poses = predictor(sorted((dataset.parent / "eight-built").rglob("*.jpg"))[:2])
    assert all(pose.found.all() for pose in poses)
