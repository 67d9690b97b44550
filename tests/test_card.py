"""The model card: rendered from a run folder's JSON files, its YAML metadata parsed back by huggingface_hub."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from blip_pose.card import CARD_METRICS, DEFAULT_BASE_MODEL, TEMPLATE_PATH, write_model_card
from blip_pose.geometry import Preprocessing
from blip_pose.keypoints.mpii import MPII16

ROOT = Path(__file__).resolve().parents[1]

RESULTS = {
    "eval_num_samples": 6.0,
    "eval_accuracy@25": 0.8125,
    "eval_accuracy@5": 0.25,
    "eval_accuracy@1": 0.0625,
    "eval_mae": 12.3456,
    "eval_pckh@0.5": 0.71,
    "eval_parse_rate": 0.9375,
    "eval_loss": 0.5,
    "train_loss": 1.25,
    "epoch": 60.0,
}
RUN_CONFIG = {
    "model": {"model_name_or_path": "Salesforce/blip-image-captioning-base"},
    "data": {
        "dataset_name": "someone/mpii_pose_caption",
        "dataset_config_name": "video_split",
        "caption_column": "text",
    },
    "training": {"learning_rate": 5e-5, "num_train_epochs": 10, "optim": "adam", "seed": 3},
}


def run_folder(tmp_path, results=RESULTS, run_config=RUN_CONFIG, preprocessing=Preprocessing()):
    folder = tmp_path / "run1"
    folder.mkdir()
    if results is not None:
        (folder / "all_results.json").write_text(json.dumps(results))
    if run_config is not None:
        (folder / "run_config.json").write_text(json.dumps(run_config))
    if preprocessing is not None:
        preprocessing.save(folder)
    return folder


def test_card_metadata_parses_back_with_huggingface_hub(tmp_path):
    path = write_model_card(run_folder(tmp_path), repo_id="someone/blip-mpii-pose")
    assert path.name == "README.md"
    card = ModelCard.load(path)
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "image-to-text"
    assert data.base_model == "Salesforce/blip-image-captioning-base"
    assert data.datasets == ["someone/mpii_pose_caption"]
    assert {"pose-estimation", "keypoint-detection", "blip"} <= set(data.tags)
    assert data.model_name == "blip-mpii-pose"
    got = {r.metric_type: r.metric_value for r in data.eval_results}
    assert got == {metric: RESULTS[key] for key, (metric, _, _) in CARD_METRICS.items()}
    for result in data.eval_results:
        assert result.task_type == "image-to-text"
        assert result.dataset_type == "someone/mpii_pose_caption"
        assert result.dataset_config == "video_split" and result.dataset_split == "validation"


def test_card_of_a_real_dataset_run_does_not_call_it_synthetic(tmp_path):
    card = ModelCard.load(write_model_card(run_folder(tmp_path)))
    assert "synthetic" not in card.text and "`someone/mpii_pose_caption`, config `video_split`" in card.text


def test_card_text_has_every_section(tmp_path):
    text = write_model_card(run_folder(tmp_path), repo_id="someone/blip-mpii-pose").read_text()
    for heading in (
        "## Caption format",
        "## Usage",
        "## Training data",
        "## Training procedure",
        "## Evaluation results",
        "## Limitations",
        "## Citation",
    ):
        assert heading in text
    for i, (name, caption) in enumerate(zip(MPII16.names, MPII16.captions)):
        assert f"| {i} | {name} | `{caption}` |" in text
    usage = text.split("## Usage")[1].split("```python")[1].split("```")[0].strip().splitlines()
    assert usage == [
        "from blip_pose import PosePredictor",
        'pose = PosePredictor.from_pretrained("someone/blip-mpii-pose")',
        'print(pose("person.jpg").joints)  # 16 joints: name, x, y (person.jpg\'s pixels), found',
    ]
    assert "| Accuracy@25 px | 0.8125 |" in text and "| MAE (px) | 12.35 |" in text
    assert "On the `validation` split (6 images); final training loss: 1.25, epochs: 60." in text
    assert "| `learning_rate` | `5e-05` |" in text and "| `optim` | `adam` |" in text
    assert "config `video_split`" in text and "whole image resized to 384x384" in text
    assert "out-of-distribution" in text and "small set" in text
    assert "li2022blip" in text and "andriluka14cvpr" in text


def test_preset_run_records_no_base_model_and_missing_results_say_so(tmp_path):
    config = {"model_name_or_path": "tiny", "dataset_name": "sample", "caption_column": "normalized_text"}
    folder = run_folder(tmp_path, results=None, run_config=config, preprocessing=Preprocessing("crop", 256, 1.25))
    card = ModelCard.load(write_model_card(folder))
    assert card.data.base_model is None and card.data.eval_results is None
    assert card.data.datasets is None  # "sample" is synthetic: neither a Hub id nor mpii_pose_caption
    assert "Trained from scratch: `tiny` is a random-initialised model preset" in card.text
    assert "bundled synthetic sample" in card.text  # a demo model is not passed off as an MPII model
    assert "No evaluation results recorded" in card.text
    assert "square of 1.25 x the person's size" in card.text and "256x256" in card.text
    assert "rankl:0." in card.text  # the example caption is in the run's (normalized) format
    assert f'from_pretrained("{folder}")' in card.text


@pytest.mark.parametrize("start", ["pretrained:tiny-pose", "local"])
def test_card_says_what_a_run_without_a_hub_base_started_from(tmp_path, start):
    start = str(tmp_path) if start == "local" else start  # an existing folder is a local checkpoint, not a Hub id
    folder = run_folder(tmp_path, results=None, run_config={"model_name_or_path": start, "dataset_name": "sample"})
    card = ModelCard.load(write_model_card(folder))
    origin = (
        "Fine-tuned from `pretrained:tiny-pose`, a small pose captioner this package ships"
        if start.startswith("pretrained:")
        else f"Trained from the local checkpoint `{start}` (not a Hub model)."
    )
    assert origin in card.text and "random-initialised" not in card.text
    assert card.data.base_model is None


def test_non_finite_metric_is_left_out_of_the_model_index(tmp_path):
    folder = run_folder(tmp_path, results={**RESULTS, "eval_mae": math.nan})
    card = ModelCard.load(write_model_card(folder))
    assert "mae" not in {r.metric_type for r in card.data.eval_results}
    assert "| MAE (px) | n/a |" in card.text


def test_without_run_config_hyperparameters_come_from_training_args_json(tmp_path):
    folder = run_folder(tmp_path, run_config=None, preprocessing=None)
    args = {"learning_rate": 0.001, "seed": 0, "hub_token": "<HUB_TOKEN>", "max_steps": None}
    (folder / "training_args.json").write_text(json.dumps(args))
    card = ModelCard.load(write_model_card(folder))
    assert card.data.base_model == DEFAULT_BASE_MODEL
    assert "| `learning_rate` | `0.001` |" in card.text and "hub_token" not in card.text
    assert "max_steps" not in card.text  # unset settings are left out
    assert "assumed: no `preprocessing.json`" in card.text
    (folder / "trainer_state.json").write_text("{}")  # still a run folder, without its settings
    (folder / "training_args.json").unlink()
    assert "Not recorded" in ModelCard.load(write_model_card(folder)).text


def test_bad_run_files_are_errors_naming_the_file(tmp_path):
    folder = run_folder(tmp_path)
    (folder / "all_results.json").write_text("{not json")
    with pytest.raises(ValueError, match="all_results.json"):
        write_model_card(folder)
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        write_model_card(tmp_path / "nowhere")


def test_template_ships_inside_the_wheel(tmp_path):
    """pyproject's package-data puts the card template in the wheel, where write_model_card finds it."""
    source = tmp_path / "source"  # a copy: a build writes build/ and *.egg-info into the tree it builds
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("blip_pose", "mpii_pose_dataset"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source)]
    subprocess.run([*command, "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("blip_pose-*.whl")
    member = TEMPLATE_PATH.relative_to(TEMPLATE_PATH.parents[2]).as_posix()  # blip_pose/templates/<name>
    with zipfile.ZipFile(wheel) as archive:
        assert member == "blip_pose/templates/model_card.md" and member in archive.namelist()
        assert "{{ card_data }}" in archive.read(member).decode()
