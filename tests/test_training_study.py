"""The method's study as commands: the warm-up learns, the simple task scores a training subset beside validation,
paper.yaml's kept epochs survive rotation, and the Table 3 sweep (hyperparameter_search) records, resumes and
draws its trials. All on the bundled sample with the tiny preset."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from training_fixtures import load_script, run, sample_dataset

from blip_pose.training.arguments import ConfigError, parse_arguments
from blip_pose.training.sweep import Setting, SweepArguments, design_settings
from blip_pose.training.sweep_results import RESULTS_CSV, SUMMARY_FILE, TRIAL_FILE

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"
sweep = load_script("sweep")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return sample_dataset(tmp_path_factory.mktemp("sample") / "data")


def _history(folder: Path) -> list[dict]:
    return json.loads((folder / "trainer_state.json").read_text())["log_history"]


def test_warm_up_config_learns_its_five_images(tmp_path, sample):
    """warmup.yaml: the simple captions of 5 training images, scored on themselves, are learnt."""
    out = tmp_path / "warm-up"
    tiny = ("--model_name_or_path", "tiny", "--label_smoothing_factor", "0", "--use_cpu", "true", "--report_to", "none")
    metrics = run.main(
        [str(CONFIGS / "warmup.yaml"), "--dataset_name", str(sample), "--output_dir", str(out), *tiny]
        + ["--learning_rate", "1e-3", "--num_train_epochs", "150", "--eval_steps", "50"]
    )
    assert metrics["eval_num_samples"] == 5 and metrics["eval_parse_rate"] == 1.0
    assert metrics["eval_accuracy@5"] >= 0.8
    losses = [row["loss"] for row in _history(out) if "loss" in row]
    assert losses[-1] < losses[0] / 10


def test_train_eval_samples_scores_a_training_subset(tmp_path, sample):
    out = tmp_path / "simple"
    run.main(
        [str(CONFIGS / "tiny_test.yaml"), "--dataset_name", str(sample), "--output_dir", str(out)]
        + ["--eval_strategy", "steps", "--eval_steps", "2", "--max_eval_samples", "2", "--train_eval_samples", "3"]
    )
    history = _history(out)
    validation = [row for row in history if "eval_accuracy@25" in row]
    train = [row for row in history if "eval_train_accuracy@25" in row]
    assert [row["step"] for row in validation] == [row["step"] for row in train] == [2, 4]
    assert {row["eval_num_samples"] for row in validation} == {2}  # headline names stay the validation's
    assert {row["eval_train_num_samples"] for row in train} == {3} and all("eval_train_loss" in row for row in train)
    assert len((out / "predictions" / "train-step-000002.jsonl").read_text().splitlines()) == 3
    assert len((out / "predictions" / "step-000002.jsonl").read_text().splitlines()) == 2
    assert (out / "plots" / "train_validation.png").is_file()
    _, data_args, _ = parse_arguments([str(CONFIGS / "simple.yaml")])
    assert data_args.train_eval_samples == 500


def test_keep_epochs_keeps_exactly_those_checkpoints(tmp_path, sample):
    out = tmp_path / "kept"
    run.main(
        [str(CONFIGS / "tiny_test.yaml"), "--dataset_name", str(sample), "--output_dir", str(out)]
        + ["--max_train_samples", "8", "--max_steps", "-1", "--num_train_epochs", "4", "--do_eval", "false"]
        + ["--save_strategy", "epoch", "--save_total_limit", "1", "--keep_epochs", "1", "3"]
    )
    assert sorted(p.name for p in out.glob("epoch-*")) == ["epoch-01", "epoch-03"]
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-4"]  # the rotation ran as usual
    for name, step in (("epoch-01", 1), ("epoch-03", 3)):
        assert json.loads((out / name / "trainer_state.json").read_text())["global_step"] == step
        assert (out / name / "model.safetensors").is_file() and (out / name / "run_config.json").is_file()
    args = parse_arguments([str(CONFIGS / "paper.yaml")])[2]
    assert args.keep_epochs == [1, 15, 23] and args.save_strategy == "epoch"
    with pytest.raises(ConfigError, match="--keep_epochs needs --save_strategy epoch"):
        run.main(
            [str(CONFIGS / "tiny_test.yaml"), "--dataset_name", str(sample), "--output_dir", str(out / "x")]
            + ["--save_strategy", "steps", "--keep_epochs", "1"]
        )


def test_designs_and_optimizer_flag():
    assert len(design_settings(SweepArguments(design="full"))) == 27
    paper = design_settings(SweepArguments(design="paper"))
    assert [s.name for s in paper] == [
        "bs4-lr5e-05-adamw",
        "bs1-lr5e-05-adamw",
        "bs2-lr5e-05-adamw",
        "bs4-lr5e-06-adamw",
        "bs4-lr2e-05-adamw",
        "bs4-lr5e-05-sgd",
        "bs4-lr5e-05-adam",
    ]
    # A setting's optimizer reaches training as transformers' --optim (plain Adam is the project's "adam").
    assert Setting(4, 5e-5, "adamw").arguments()["optim"] == "adamw_torch"
    assert Setting(4, 5e-5, "adam").arguments()["optim"] == "adam"
    with pytest.raises(ConfigError, match="'rmsprop' is not one of"):
        SweepArguments(optimizers=["rmsprop"])


def _sweep(out: Path, sample: Path, *flags: str):
    return sweep.main(
        [str(CONFIGS / "sweep_demo.yaml"), "--dataset_name", str(sample), "--output_dir", str(out)]
        + ["--num_train_epochs", "1", "--max_train_samples", "8", "--max_eval_samples", "2", *flags]
    )


def test_demo_sweep_records_resumes_and_draws(tmp_path, sample):
    out = tmp_path / "sweep"
    first = _sweep(out, sample, "--max_trials", "1")
    assert len(first) == 1
    done = out / first[0].setting / TRIAL_FILE
    stamp = done.stat().st_mtime_ns
    assert "3 not run yet" in (out / SUMMARY_FILE).read_text()
    killed = next(p for p in ("bs4-lr0.001-sgd", "bs8-lr0.001-sgd") if p != first[0].setting)
    (out / killed).mkdir()
    (out / killed / "stale.txt").write_text("left by a trial killed before it finished")

    results = _sweep(out, sample)
    assert sorted(r.setting for r in results) == sorted(
        ["bs4-lr0.001-sgd", "bs4-lr0.001-adamw", "bs8-lr0.001-sgd", "bs8-lr0.001-adamw"]
    )
    assert done.stat().st_mtime_ns == stamp  # the finished trial did not run again
    assert (out / killed / TRIAL_FILE).is_file() and not (out / killed / "stale.txt").exists()  # started afresh
    rows = list(csv.DictReader((out / RESULTS_CSV).open()))
    assert len(rows) == 4 and {row["status"] for row in rows} == {"finished"}
    assert {row["optimizer"] for row in rows} == {"sgd", "adamw"} and all(float(row["wall_s"]) > 0 for row in rows)
    assert all(row["best_accuracy@25"] != "" and row["final_parse_rate"] != "" for row in rows)
    summary = (out / SUMMARY_FILE).read_text()
    assert summary.count("| `bs") == 4 and "Not run yet:" not in summary
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == ["batch_size.png", "optimizer.png"]
    for row in rows:  # each trial is a whole run folder
        trial = out / row["setting"]
        assert (trial / "README.md").is_file() and (trial / "model.safetensors").is_file()
        assert (trial / "predictions" / "final.jsonl").is_file() and (trial / "plots" / "training_loss.png").is_file()
        assert json.loads((trial / "run_config.json").read_text())["training"]["learning_rate"] == 1e-3
    config = json.loads((out / "bs4-lr0.001-sgd" / "run_config.json").read_text())["training"]
    assert (config["per_device_train_batch_size"], config["optim"]) == (4, "sgd")

    again = _sweep(out, sample)  # nothing left: no trial runs, the outputs are rewritten from the records
    assert len(again) == 4 and done.stat().st_mtime_ns == stamp


def test_diverged_trial_is_recorded_and_the_sweep_goes_on(tmp_path, sample):
    """A learning rate of 1e6 blows the weights up; the baseline beside it still runs and is chosen."""
    out = tmp_path / "diverged"
    results = _sweep(
        out,
        sample,
        *("--design", "paper", "--batch_sizes", "8", "--optimizers", "adamw", "--learning_rates", "1e-3", "1e6"),
        *("--num_train_epochs", "4", "--warmup_steps", "0"),
    )
    assert {r.setting: r.status for r in results} == {"bs8-lr1e+06-adamw": "diverged", "bs8-lr0.001-adamw": "finished"}
    rows = {row["setting"]: row for row in csv.DictReader((out / RESULTS_CSV).open())}
    assert rows["bs8-lr1e+06-adamw"]["status"] == "diverged"
    assert "Diverged (non-finite training loss or gradient norm" in (out / SUMMARY_FILE).read_text()
