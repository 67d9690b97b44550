"""Issue 23: a COCO-built dataset trains through ``training/run.py`` with ``--model_name_or_path tiny``: the preset
is built with the dataset's keypoint set's caption words (COCO-17's people and a five-point star set), and the run
evaluates with every caption parsed, scored the field's way (COCO keypoint AP/AR, PCK by the person box)."""

from __future__ import annotations

import json
import math

import pytest
from datasets import load_dataset
from training_fixtures import load_script

from blip_pose.keypoints import KeypointSpec
from blip_pose.keypoints.coco import COCO17
from coco_pose_dataset.cli import main as build


@pytest.mark.parametrize("kind, images, first", [("person", 8, "nose"), ("star", 10, "top")])
def test_a_tiny_run_trains_and_evaluates_on_a_coco_built_set(tmp_path, kind, images, first):
    data = tmp_path / kind
    argv = ["build", "--synthetic", str(images), "--kind", kind, "--output", str(data), "--num-proc", "1",
            "--image-size", "64"]  # fmt: skip
    assert build(argv) == 0
    n_eval = load_dataset(str(data))["validation"].num_rows
    out = tmp_path / "run"
    metrics = load_script("run").main(
        ["training/configs/tiny_test.yaml", "--model_name_or_path", "tiny", "--dataset_name", str(data),
         "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4", "--num_overlays", "1"]
    )  # fmt: skip
    assert metrics["eval_parse_rate"] == 1.0 and metrics["eval_num_samples"] == float(n_eval)
    spec = KeypointSpec.load(out)
    assert spec.captions[0] == first and (spec == COCO17) == (kind == "person")
    assert f"eval_pck@5/{first}" in metrics and not any("rankl" in key for key in metrics)
    # the preset's vocabulary holds the set's caption words: no caption word is [UNK]
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    assert {part for token in spec.captions for part in token.split("_")} <= set(vocab)
    assert 0.0 <= metrics["eval_pck_person@0.2"] <= 1.0
    for key in ("eval_coco_AP", "eval_coco_AP50", "eval_coco_AR"):
        assert 0.0 <= metrics[key] <= 1.0 or metrics[key] == -1.0, key
    assert math.isfinite(metrics["eval_mae"])
