"""run.py end to end on the bundled sample with the tiny preset: the method's warm-up, the leak check, outputs,
and continuing a killed run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from training_fixtures import run, sample_dataset

from blip_pose.geometry import Preprocessing
from blip_pose.keypoints.mpii import MPII16
from blip_pose.keypoints.saved import spec_beside

CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "tiny_test.yaml"


@pytest.fixture(scope="module")
def eight_images(tmp_path_factory):
    """8 sample images, evaluated on themselves."""
    return sample_dataset(tmp_path_factory.mktemp("sample") / "eight", n_train=8, eval_is_train=True)


def _main(output: Path, dataset: Path, *flags: str) -> dict[str, float]:
    return run.main([str(CONFIG), "--dataset_name", str(dataset), "--output_dir", str(output), *flags])


def test_run_folder_layout(tmp_path, eight_images):
    """A short run writes a loadable model (safetensors, processor, generation config) and every record of the run."""
    out = tmp_path / "layout"
    metrics = _main(
        out,
        eight_images,
        *("--max_steps", "6", "--logging_steps", "2", "--report_to", "tensorboard"),
        *("--save_strategy", "steps", "--save_steps", "6", "--eval_strategy", "steps", "--eval_steps", "3"),
    )
    for name in (
        "model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "generation_config.json",
        "all_results.json",
        "trainer_state.json",
        "training_args.json",
        "plots/training_loss.png",
        "plots/validation_metrics.png",
        "checkpoint-6/preprocessing.json",
        "keypoints.json",
        "checkpoint-6/keypoints.json",
        "run_config.json",
        "checkpoint-6/run_config.json",
        "README.md",
        "checkpoint-6/model.safetensors",
    ):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.bin"))  # no pickled training arguments
    assert Preprocessing.load(out) == Preprocessing("resize", 384, 1.25)
    assert spec_beside(out) == spec_beside(out / "checkpoint-6") == MPII16  # the card records no set: MPII-16
    assert json.loads((out / "generation_config.json").read_text())["max_new_tokens"] > 80
    assert list((out / "runs").glob("*/events.out.tfevents.*"))
    assert json.loads((out / "run_config.json").read_text())["data"]["caption_column"] == "text"
    assert "Accuracy@5 px" in (out / "README.md").read_text()  # the model card shows the results
    assert len(list((out / "overlays").glob("*.png"))) == 2
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_accuracy@5"] == metrics["eval_accuracy@5"] and "train_loss" in results
    lines = [json.loads(line) for line in (out / "predictions" / "final.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and all(len(line["joints"]) == 16 for line in lines)


def test_warm_up_writes_the_captions_back(tmp_path, eight_images):
    """The method's warm-up: after a few hundred steps on 8 images the model writes their captions back."""
    out = tmp_path / "warm-up"
    metrics = _main(out, eight_images, "--max_steps", "300", "--logging_steps", "25")
    assert metrics["eval_accuracy@5"] >= 0.9
    assert metrics["eval_parse_rate"] == 1.0 and metrics["eval_num_samples"] == 8
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [row["loss"] for row in history if "loss" in row]
    assert losses[-1] < losses[0] / 10
    lines = [json.loads(line) for line in (out / "predictions" / "final.jsonl").read_text().splitlines()]
    assert sum(line["caption"].replace(" ", "") == line["reference"].replace(" ", "") for line in lines) >= 7


def test_untrained_model_cannot_read_the_answer(tmp_path, eight_images):
    """Generation sees only the image: a random model scores about 0 (trap c)."""
    out = tmp_path / "untrained"
    metrics = _main(out, eight_images, "--do_train", "false")
    assert metrics["eval_num_samples"] == 8
    assert metrics["eval_accuracy@25"] <= 0.05
    assert len((out / "predictions" / "final.jsonl").read_text().splitlines()) == 8


def test_resume_continues_a_killed_run(tmp_path, eight_images):
    flags = ("--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--do_eval", "false")
    whole = tmp_path / "whole"
    _main(whole, eight_images, *flags)
    killed = tmp_path / "killed"
    _main(killed, eight_images, *flags)
    shutil.rmtree(killed / "checkpoint-4")  # as if killed between the two saves
    (killed / "trainer_state.json").unlink()
    assert (killed / "checkpoint-2" / "preprocessing.json").is_file()
    _main(killed, eight_images, *flags, "--resume_from_checkpoint", "last")

    def losses(folder):
        history = json.loads((folder / "trainer_state.json").read_text())["log_history"]
        return {row["step"]: row["loss"] for row in history if "loss" in row}

    resumed, reference = losses(killed), losses(whole)
    assert sorted(resumed) == [1, 2, 3, 4]
    assert resumed == pytest.approx(reference, rel=1e-4)  # same data order and weights after the restart
