"""The shipped configs parse to the method's settings, and every coordinate caption column trains and scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training_fixtures import run, sample_dataset

from blip_pose.pose_metrics import parse_captions, pose_scores
from blip_pose.training.arguments import parse_arguments
from mpii_pose_dataset.synthetic import MAX_FRAMES

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def scores_of_predictions_file(path: Path, column: str, size: float = 384.0) -> dict[str, float]:
    """The scores recomputed from a run's predictions file (its captions against its references): what the run
    reports must be the score of what it wrote, not of padded, reordered or other images."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    sizes = np.full((len(rows), 2), size)
    pred = parse_captions([row["caption"] for row in rows], column, sizes)
    ref = parse_captions([row["reference"] for row in rows], column, sizes, what="references")
    return pose_scores(*pred, *ref)


def test_paper_config_is_the_method():
    model_args, data_args, args = parse_arguments([str(CONFIGS / "paper.yaml")])
    assert model_args.model_name_or_path == "Salesforce/blip-image-captioning-base"
    assert (args.optim, args.learning_rate, args.per_device_train_batch_size, args.num_train_epochs) == (
        "adamw_torch_fused",  # AdamW as one fused kernel
        2e-5,
        4,
        25,
    )
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch"
    assert args.load_best_model_at_end and args.save_total_limit == 2  # best and last
    assert args.metric_for_best_model == "accuracy@25" and args.greater_is_better
    assert args.report_to == ["tensorboard"] and data_args.caption_column == "text"
    _, simple, _ = parse_arguments([str(CONFIGS / "simple.yaml")])
    assert simple.caption_column == "simple_text"
    _, _, overridden = parse_arguments([str(CONFIGS / "paper.yaml"), "--optim", "sgd", "--learning_rate", "5e-5"])
    assert (overridden.optim, overridden.learning_rate) == ("sgd", 5e-5)
    assert args.label_smoothing_factor == 0.1  # the method's smoothing of BLIP's caption loss


def test_demo_config_is_offline_and_small():
    model_args, data_args, args = parse_arguments([str(CONFIGS / "demo.yaml")])
    assert model_args.model_name_or_path == "pretrained:tiny-pose" and data_args.dataset_name == "synthetic"
    assert args.use_cpu and args.report_to == ["tensorboard"] and not args.push_to_hub
    # Figures the pretraining never drew, split by video, and at least 200 held-out people scored.
    _, pretrain, _ = parse_arguments([str(CONFIGS / "pretrain_tiny.yaml")])
    assert data_args.synthetic_seed != pretrain.synthetic_seed and data_args.dataset_config_name == "video_split"
    # Videos hold 1..MAX_FRAMES frames of one figure (3 on average), so >= 200 figures need >= 600 frames.
    assert data_args.max_eval_samples >= 200 * (MAX_FRAMES + 1) / 2
    # The demo's scores are those of its last step, not of a checkpoint chosen on the images that score it.
    assert not args.load_best_model_at_end and args.eval_on_start


# normalized_text needs ~150 tokens, more than the tiny preset's 128 positions (refused up front, see bad inputs).
@pytest.mark.parametrize("column", ["simple_text", "normalized_simple_text"])
def test_other_caption_columns(tmp_path_factory, column):
    data = sample_dataset(tmp_path_factory.mktemp("sample") / "data")
    out = tmp_path_factory.mktemp("run")
    metrics = run.main(
        [
            str(CONFIGS / "tiny_test.yaml"),
            "--dataset_name",
            str(data),
            "--output_dir",
            str(out),
            "--caption_column",
            column,
            "--max_steps",
            "2",
            "--max_eval_samples",
            "3",
        ]
    )
    assert metrics["eval_num_samples"] == 3
    final = out / "predictions" / "final.jsonl"
    written = scores_of_predictions_file(final, column)
    assert (metrics["eval_accuracy@25"], metrics["eval_mae"]) == pytest.approx((written["accuracy@25"], written["mae"]))
    first = json.loads((out / "predictions" / "final.jsonl").read_text().splitlines()[0])
    assert first["reference"].startswith("upper_neck:" if column == "simple_text" else "upper_neck:0.")
