"""The shipped ``pretrained:tiny-pose``: it loads and predicts, its card says synthetic and how it was made, and a
short fine-tuning run on held-out synthetic people scores better than the training split's mean pose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import load_dataset
from huggingface_hub import ModelCard
from training_fixtures import run

from blip_pose.card import write_model_card
from blip_pose.pose_metrics import pose_scores
from blip_pose.predictor import PosePredictor
from blip_pose.pretrained import resolve_pretrained, shipped_models
from blip_pose.training.data import references
from blip_pose.training.modeling import CheckpointError, resolve_checkpoint
from mpii_pose_dataset.download import ANNOTATION_FILE
from mpii_pose_dataset.reader import read_release
from mpii_pose_dataset.synthetic import SIZE, generate
from pose_dataset import resolve_dataset

SHIPPED = "pretrained:tiny-pose"
CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "tiny_test.yaml"


def test_shipped_model_loads_and_finds_joints_on_new_people(tmp_path):
    generate(tmp_path, 12, seed=101)  # figures no training seed drew
    people = [(r, r.persons[0]) for r in read_release(tmp_path / ANNOTATION_FILE) if len(r.persons) == 1]
    people = [(r, p) for r, p in people if len(p.points) == 16]
    assert len(people) >= 5
    pose = PosePredictor.from_pretrained(SHIPPED, device="cpu")
    predictions = pose([tmp_path / "images" / record.name for record, _ in people], batch_size=16)
    errors = []
    for (_, person), prediction in zip(people, predictions):
        found = [j for j in prediction.joints if j.found]
        assert len(found) >= 14 and all(0 <= j.x < SIZE and 0 <= j.y < SIZE for j in found)
        truth = {q.id: (q.x, q.y) for q in person.points}
        errors += [np.hypot(j.x - truth[j.id][0], j.y - truth[j.id][1]) for j in found]
    # Pixels of the 192 px frame: the shipped model scored ~23 px mean error in its 384 px caption frame (~11.5 here).
    assert np.mean(errors) < 15


def test_shipped_folder_card_says_synthetic_and_how_it_was_made():
    folder = Path(resolve_pretrained(SHIPPED))
    assert shipped_models() == ["tiny-pose"] and folder.parent.name == "pretrained"
    weights = folder / "model.safetensors"
    assert weights.stat().st_size < 10 * 2**20 and not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))
    card = ModelCard.load(folder / "README.md")
    assert "synthetic stick figures" in card.text and "held-out figures" in card.text and "not MPII" in card.text
    assert "## Provenance" in card.text and "`make pretrain-tiny`" in card.text
    assert f'from_pretrained("{SHIPPED}")' in card.text
    config = json.loads((folder / "run_config.json").read_text())
    assert config["data"]["dataset_name"] == "synthetic" and config["data"]["synthetic_size"] >= 12000
    # The card names the checkpoint the pretraining config's own rule chose, not a fixed metric.
    recipe = yaml.safe_load((Path(__file__).parents[1] / "training/configs/pretrain_tiny.yaml").read_text())
    assert f"the best {recipe['metric_for_best_model']} of" in card.text


def test_unknown_shipped_name_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no shipped model 'pretrained:nope'; shipped: pretrained:tiny-pose"):
        resolve_checkpoint("pretrained:nope", tmp_path)
    assert resolve_checkpoint(SHIPPED, tmp_path) == resolve_pretrained(SHIPPED)


def test_card_of_a_synthetic_run_says_so(tmp_path):
    config = {"dataset_name": "synthetic", "synthetic_size": 300, "synthetic_seed": 4, "caption_column": "text"}
    (tmp_path / "run_config.json").write_text(json.dumps(config))
    text = ModelCard.load(write_model_card(tmp_path)).text
    assert "synthetic stick figures (300 procedural frames, seed 4; validation on held-out figures)" in text


def test_synthetic_source_is_built_once_per_size_seed_and_config(tmp_path):
    with pytest.raises(ValueError, match=r"synthetic_size must be 50\.\.100000 frames, got 0"):
        resolve_dataset("synthetic", None, tmp_path, 0)
    folder = Path(resolve_dataset("synthetic", None, tmp_path, 50, 2))
    assert folder == tmp_path / "synthetic-video_split-n50-seed2"
    report = folder / "reports" / "video_split.json"
    built = report.stat().st_mtime_ns
    assert resolve_dataset("synthetic", "video_split", tmp_path, 50, 2) == str(folder)
    assert report.stat().st_mtime_ns == built  # reused, not rebuilt
    assert resolve_dataset("synthetic", None, tmp_path, 50, 3) != str(folder)


def test_short_run_on_synthetic_people_beats_the_mean_pose(tmp_path):
    """Fine-tuning the shipped model for a few steps on figures it never saw (seed 3), then scoring held-out ones:
    the parsed joints must beat the training split's mean pose put on every held-out person."""
    out = tmp_path / "run"
    flags = ["--dataset_name", "synthetic", "--synthetic_size", "300", "--synthetic_seed", "3"]
    metrics = run.main(
        [str(CONFIG), "--model_name_or_path", SHIPPED, *flags, "--output_dir", str(out)]
        + ["--max_steps", "8", "--learning_rate", "3e-4", "--max_eval_samples", "48", "--num_overlays", "0"]
    )
    data = load_dataset(str(out / "synthetic-video_split-n300-seed3"))
    train = references(data["train"], "text", "image")
    held = references(data["validation"].select(range(48)), "text", "image")
    mean_pose = np.broadcast_to(np.nanmean(train.xy, axis=0), held.xy.shape)
    baseline = pose_scores(mean_pose, np.ones(held.found.shape, bool), held.xy, held.found)
    assert metrics["eval_num_samples"] == 48 and metrics["eval_parse_rate"] >= 0.9
    assert metrics["eval_mae"] < 0.6 * baseline["mae"]
    assert metrics["eval_accuracy@25"] > baseline["accuracy@25"] + 0.3
