"""Issue 22's proof that the seams are seams: a keypoint set, a model family and a source format that exist only in
test code are registered from here (no project file knows them) and go the whole way through the project's own
entry points: the build core makes a dataset, ``training/run.py`` trains and evaluates on it, the predictor reads
the saved model back and writes the toy set's five named points in the image's own pixels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from test_model_family import ToyCaptioner, ToyConfig, ToyFamily
from test_pose_dataset import SIZE, TOY, ToyCsvFormat, _write_source
from training_fixtures import load_script
from transformers import AutoConfig, AutoModel

import blip_pose.keypoints as keypoints
import blip_pose.models as models
from blip_pose.keypoints import KeypointSpec, get_spec, register
from blip_pose.predictor import PosePredictor
from blip_pose.presets import PRESETS, save_preset
from pose_dataset import register_source
from pose_dataset.export import build


@pytest.fixture
def toy_seams(monkeypatch, tmp_path):
    """The three registrations, undone after the test: keypoint set ``toy5``, family ``toy``, source ``toy-csv``."""
    monkeypatch.setattr(keypoints, "_REGISTRY", dict(keypoints._REGISTRY))
    register(TOY)
    AutoConfig.register("toy-blip", ToyConfig, exist_ok=True)
    AutoModel.register(ToyConfig, ToyCaptioner, exist_ok=True)
    monkeypatch.setattr(models, "_FAMILIES", dict(models._FAMILIES))
    models.register_family(ToyFamily())
    monkeypatch.setitem(PRESETS, "toy-tiny", {**PRESETS["tiny"], "family": "toy"})
    return register_source(ToyCsvFormat(), replace=True)


def test_a_toy_keypoint_set_family_and_source_train_evaluate_and_predict(toy_seams, tmp_path):
    assert get_spec("toy5") is TOY
    # 1. Build: the core stages, exports and writes the card with the toy set, for a format it has never seen.
    data = tmp_path / "toy-points"
    build(data, toy_seams, data_dir=_write_source(tmp_path / "csv", n=16), cache_dir=tmp_path / "cache")

    # 2. A model of the toy family whose tokenizer writes the toy set's caption words.
    model_dir = save_preset("toy-tiny", tmp_path / "toy-model", spec=TOY)
    assert json.loads((model_dir / "config.json").read_text())["model_type"] == "toy-blip"

    # 3. Train and evaluate through the entry script, as a user would.
    out = tmp_path / "run"
    metrics = load_script("run").main(
        [
            "training/configs/tiny_test.yaml",
            "--model_name_or_path", str(model_dir),
            "--dataset_name", str(data),
            "--dataset_config_name", "points",
            "--output_dir", str(out),
            "--per_device_train_batch_size", "4",
            "--per_device_eval_batch_size", "8",
            "--max_steps", "3",
            "--num_overlays", "1",
        ]
    )  # fmt: skip
    assert metrics["eval_parse_rate"] == 1.0  # the grammar wrote the toy set's captions from step 0
    assert metrics["eval_num_samples"] == 8.0
    assert {f"eval_pck@5/{name}" for name in TOY.captions} <= set(metrics)  # per-keypoint keys of the toy set
    assert not any("rankl" in key for key in metrics)  # nothing of MPII's joints anywhere
    assert math.isfinite(metrics["eval_mae"])
    assert KeypointSpec.load(out) == TOY  # the set travels with the model
    assert json.loads((out / "config.json").read_text())["model_type"] == "toy-blip"
    assert "lwing" in (out / "README.md").read_text()  # the card's keypoint table is the toy set's

    # 4. Predict: the saved folder alone is enough (family from config.json, keypoint set from keypoints.json).
    predictor = PosePredictor.from_pretrained(str(out))
    image = Image.new("RGB", (2 * SIZE, SIZE), (120, 90, 90))
    (pose,) = predictor.predict_images([image])
    assert [j.name for j in pose.joints] == list(TOY.captions)
    assert pose.found.all() and pose.xy.shape == (TOY.num_keypoints, 2)
    assert (pose.xy >= 0).all() and (pose.xy[:, 0] <= 2 * SIZE).all() and (pose.xy[:, 1] <= SIZE).all()
    assert np.isfinite(pose.xy).all()
