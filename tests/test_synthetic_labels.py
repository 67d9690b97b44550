"""Synthetic data is never labelled as MPII: the built folder's card, a run on it given by path, the model card and
every training plot say what the data is, from the source the dataset card records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard
from PIL import Image

from blip_pose.card import write_model_card
from blip_pose.dataset_source import DATASET_SOURCE_CARD_KEY, recorded_source
from blip_pose.run_record import flatten_run_config, synthetic_data_note
from blip_pose.training.sweep_figures import plot_train_validation
from mpii_pose_dataset.synthetic import build_synthetic


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synthetic(tmp_path_factory.mktemp("syn") / "my-pose-data", 60, seed=7, num_proc=1)


def test_the_built_folder_card_says_synthetic_not_mpii(folder: Path) -> None:
    text = (folder / "README.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    source = header[DATASET_SOURCE_CARD_KEY]["video_split"]
    assert source["kind"] == "synthetic" and source["seed"] == 7 and source["frames"] == 60
    assert source["generator"] == "mpii_pose_dataset.synthetic"
    assert header["license"] != "other" and "license_name" not in header and "source_datasets" not in header
    assert "# MPII Human Pose captions" not in text and "mpii" not in header["tags"]
    assert "60 procedural frames drawn by `mpii_pose_dataset.synthetic` with seed 7" in text
    assert "images of `mpii_human_pose_v1_u12_1.mat`" not in text
    assert "MPII's terms do not apply" in text and "Simplified BSD" not in text


def test_a_run_on_the_folder_by_path_is_synthetic(folder: Path) -> None:
    """The note comes from the card's recorded source, so any folder name (here ``my-pose-data``) works."""
    from datasets import load_dataset

    from blip_pose.training.data import dataset_source

    train = load_dataset(str(folder), "video_split")["train"]
    source = dataset_source(train, str(folder))
    assert source == recorded_source(str(folder), "video_split")
    config = {"data": {"dataset_name": str(folder), "dataset_source": source}}
    note = synthetic_data_note(flatten_run_config(config))
    assert note is not None and "60 procedural frames, seed 7" in note and "not MPII photos" in note


def test_a_run_on_an_mpii_source_has_no_note() -> None:
    source = {"kind": "mpii", "annotation_file": "mpii_human_pose_v1_u12_1.mat", "annotation_sha256": "0" * 64}
    assert synthetic_data_note({"dataset_name": "synthetic", "dataset_source": source}) is None


def _synthetic_run(tmp_path: Path, folder: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    source = recorded_source(str(folder), "video_split")
    config = {
        "model": {"model_name_or_path": "tiny"},
        "data": {"dataset_name": str(folder), "dataset_config_name": "video_split", "dataset_source": source},
        "training": {"num_train_epochs": 3.0, "max_steps": 240},
    }
    (run / "run_config.json").write_text(json.dumps(config))
    results = {"epoch": 5.63, "eval_accuracy@25": 0.5, "eval_mae": 12.0, "train_samples": 48}
    (run / "all_results.json").write_text(json.dumps(results))
    return run


def test_the_model_card_of_a_synthetic_run(tmp_path: Path, folder: Path) -> None:
    card = ModelCard.load(write_model_card(_synthetic_run(tmp_path, folder)))
    assert "mpii_pose_caption" not in str(card.data.to_dict().get("datasets"))
    assert "mpii_pose_caption" not in card.content
    assert "MPII's YouTube frames" not in card.text and "procedural stick figures it was trained on" in card.text
    assert "60 procedural frames, seed 7" in card.text
    assert "| `num_train_epochs` (configured) | `3.0` |" in card.text
    assert "| epochs trained | `5.63` |" in card.text


def _red_pixels(path: Path) -> int:
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int(((rgb[..., 0] > 180) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)).sum())


def test_train_validation_plot_carries_the_data_note(tmp_path: Path) -> None:
    history = [
        {"epoch": 1.0, "loss": 2.0},
        {"epoch": 1.0, "eval_loss": 1.8, "eval_accuracy@25": 0.2},
        {"epoch": 2.0, "eval_loss": 1.5, "eval_accuracy@25": 0.4},
    ]
    plain = plot_train_validation(history, tmp_path / "plain")
    noted = plot_train_validation(history, tmp_path / "noted", "synthetic stick figures, not MPII photos")
    assert plain is not None and noted is not None
    # The note is written in red above the panels, as on the other training plots; no curve here is red.
    assert _red_pixels(plain) == 0 and _red_pixels(noted) > 100
