"""Issue 25: the heatmap baseline through the project's own entry points: ``training/run.py --model_name_or_path
tiny-vitpose`` trains and scores with the captioner's metric and records, the predictor reads the run folder back,
and ``analyze compare`` puts a heatmap run and a captioner run in one table and one figure."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from training_fixtures import load_script

from blip_pose.cli import main as cli_main
from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.models import VITPOSE, family_for_model_type, model_family_by_name
from blip_pose.predictor import PosePredictor
from blip_pose.presets import preset_family

STEPS = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--num_overlays", "1"]


def _train(out, *flags: str) -> dict[str, float]:
    args = ["training/configs/tiny_test.yaml", "--output_dir", str(out), *STEPS, *flags]
    return load_script("run").main(args)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    heatmap = _train(root / "vitpose", "--model_name_or_path", "tiny-vitpose")
    captioner = _train(root / "blip", "--model_name_or_path", "tiny")
    return root, heatmap, captioner


def test_the_preset_resolves_to_the_heatmap_family_which_writes_no_captions():
    assert preset_family("tiny-vitpose") == VITPOSE.name and VITPOSE.kind == "heatmap"
    assert model_family_by_name(VITPOSE.name) is VITPOSE
    with pytest.raises(ValueError, match="vitpose is a heatmap model, it writes no captions"):
        family_for_model_type("vitpose")


def test_a_heatmap_run_scores_and_records_like_a_captioner_run(runs):
    root, metrics, captioner = runs
    out = root / "vitpose"
    for key in ("eval_accuracy@25", "eval_accuracy@5", "eval_accuracy@1", "eval_mae", "eval_pckh@0.5"):
        assert math.isfinite(metrics[key]) and key in captioner  # the same keys as the captioner's
    assert metrics["eval_parse_rate"] == 1.0  # every joint is decoded from its heatmap
    assert metrics["eval_num_samples"] == captioner["eval_num_samples"] > 0
    assert {f"eval_pckh@0.5/{name}" for name in DEFAULT_SPEC.captions} <= set(metrics)
    for name in ("run_config.json", "preprocessing.json", "all_results.json", "README.md", "training_args.json"):
        assert (out / name).is_file(), name
    assert not (out / "training_args.bin").exists()  # no pickle
    assert json.loads((out / "config.json").read_text())["model_type"] == "vitpose"
    assert KeypointSpec.load(out) == DEFAULT_SPEC
    assert list((out / "plots").glob("*.png")) and len(list((out / "overlays").glob("*.png"))) == 1
    assert json.loads((out / "run_config.json").read_text())["model"]["model_name_or_path"] == "tiny-vitpose"


def test_the_predictor_decodes_as_the_evaluation_did_and_maps_back_to_original_pixels(runs):
    root, _, _ = runs
    out = root / "vitpose"
    predictor = PosePredictor.from_pretrained(str(out), device="cpu")
    assert type(predictor).__name__ == "HeatmapPredictor"
    rows = [json.loads(line) for line in (out / "predictions" / "final.jsonl").read_text().splitlines()]

    dataset = json.loads((out / "run_config.json").read_text())["data"]["resolved_dataset"]["path"]
    from blip_pose.training.data import load_pose_dataset

    evals = load_pose_dataset(dataset, None)["validation"]
    frames = [evals[i]["image"].convert("RGB") for i in range(2)]
    _, xy, found = predictor.frame_joints(frames)
    assert found.all()
    np.testing.assert_allclose(xy, np.array([row["joints"] for row in rows[:2]], dtype=np.float64), atol=0.02)
    # A bigger original: the same joints, in its own pixels (the training transform inverted).
    image = frames[0].resize((frames[0].width * 2, frames[0].height * 2))
    (pose,) = predictor.predict_images([image])
    transform = predictor.transform_for(image.width, image.height)
    _, frame_xy, _ = predictor.frame_joints([transform.apply(image)])
    np.testing.assert_allclose(pose.xy, transform.inverse(frame_xy[0]), atol=1e-6)
    assert pose.width == image.width and pose.caption == ""
    assert predictor.predict_images([Image.new("RGB", (50, 40))])[0].found.all()


def test_compare_puts_both_families_in_one_table_and_figure(runs, capsys):
    root, heatmap, captioner = runs
    out = root / "compare"
    assert cli_main(["analyze", "compare", str(root / "vitpose"), str(root / "blip"), "--out", str(out)]) == 0
    table = (out / "compare.md").read_text()
    assert "| vitpose | vitpose |" in table and "| blip | blip |" in table and "Ankle" in table
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [row["family"] for row in rows] == ["vitpose", "blip"]
    assert float(rows[0]["accuracy@25"]) == heatmap["eval_accuracy@25"]
    assert float(rows[1]["mae"]) == pytest.approx(captioner["eval_mae"])
    assert float(rows[0]["train_samples_per_second"]) > 0 and float(rows[1]["eval_samples_per_second"]) > 0
    assert int(rows[0]["parameters"]) < int(rows[1]["parameters"])  # 0.14M vs the tiny captioner's
    assert int(rows[0]["steps"]) == int(rows[1]["steps"]) == 2
    assert (out / "compare.png").stat().st_size > 10_000
    assert "| vitpose |" in capsys.readouterr().out


def test_the_heatmap_runs_card_describes_a_heatmap_model_not_a_captioner(runs):
    """The card follows the family's kind: heatmaps decoded by VitPoseImageProcessor, no captions or parse rate."""
    root, _, _ = runs
    card = (root / "vitpose" / "README.md").read_text()
    assert "Gaussian heatmap per joint" in card and "`VitPoseImageProcessor` decodes" in card
    assert "It writes no captions" in card and "heatmap pose baseline (ViTPose)" in card
    for captioner_words in ("## Caption format", "Parse rate", "generated captions", "BLIP image-captioning"):
        assert captioner_words not in card, captioner_words
    assert "pipeline_tag: keypoint-detection" in card and "type: image-to-text" not in card
    blip = (root / "blip" / "README.md").read_text()
    assert "## Caption format" in blip and "Parse rate" in blip and "Gaussian heatmap" not in blip


def test_compare_refuses_a_folder_that_is_no_finished_run(tmp_path):
    from blip_pose.analysis.compare import markdown_table, run_row

    with pytest.raises(FileNotFoundError, match="no all_results.json"):
        run_row(tmp_path)
    table = markdown_table([{"run": "a", "family": "blip", "accuracy@25": 0.5, "pckh@0.5": None}])
    assert "PCKh@0.5" not in table and "| a | blip | 0.500 |" in table  # a column no run has is dropped


def test_a_heatmap_run_refuses_the_captions_only_training_subset_evaluation(tmp_path):
    from blip_pose.training.arguments import ConfigError

    with pytest.raises(ConfigError, match="--train_eval_samples .* a heatmap model has none"):
        _train(tmp_path / "run", "--model_name_or_path", "tiny-vitpose", "--train_eval_samples", "2")


def test_the_sweep_refuses_a_heatmap_model_in_one_line(tmp_path):
    from blip_pose.training.arguments import ConfigError

    argv = ["training/configs/sweep_demo.yaml", "--model_name_or_path", "tiny-vitpose", "--output_dir", str(tmp_path)]
    with pytest.raises(ConfigError, match="tiny-vitpose: the sweep trains captioners only"):
        load_script("sweep").main(argv)
