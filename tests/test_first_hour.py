"""Issue 13's traps of a user's first hour, one test (or more) each: a card only for a run folder, training into a
previous run's folder, flags without abbreviations, which checkpoint the numbers come from."""

from __future__ import annotations

import json

import pytest

from blip_pose.cli import main as blip_pose_main
from blip_pose.geometry import Preprocessing

REPO_README = "# My project\n\nhand-written, not a model card\n"


def test_card_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    # Trap 1: `card DIR` in the repository root or a folder of photos overwrote README.md.
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "README.md").write_text(REPO_README)
    (photos / "holiday.jpg").write_bytes(b"\xff\xd8")
    Preprocessing().save(photos)  # even a stray preprocessing.json does not make a run
    assert blip_pose_main(["card", str(photos)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a training run folder" in err and err.count("\n") == 1
    assert (photos / "README.md").read_text() == REPO_README

    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text(json.dumps({"model": {"model_name_or_path": "tiny"}}))
    assert blip_pose_main(["card", str(run)]) == 0
    assert "BLIP pose captions" in (run / "README.md").read_text()


@pytest.mark.parametrize("record", ["training_args.json", "trainer_state.json", "checkpoint-10/training_args.json"])
def test_every_training_record_makes_a_run_folder(tmp_path, record):
    from blip_pose.run_record import is_run_folder

    assert not is_run_folder(tmp_path)
    (tmp_path / record).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / record).write_text("{}")
    assert is_run_folder(tmp_path)


DEMO = "training/configs/demo.yaml"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--max_step", "10"], "unknown command-line arguments: --max_step 10 (did you mean --max_steps?)"),
        (["--lr", "1e-3"], "unknown command-line arguments: --lr 1e-3"),
        (["--optimizer", "sgd"], "(did you mean --optim?)"),
        (["--label_smoothing", "0.1"], "(did you mean --label_smoothing_factor?)"),
        (["--optim", "lamb"], "argument --optim: invalid choice: 'lamb' (choose from 'adamw_torch'"),
    ],
)
def test_flags_are_exact_and_errors_are_one_line(flags, expected):
    # Trap 4: prefix matching took --max_step for --max_steps; --lr printed ~130 lines of usage.
    from blip_pose.training.arguments import ConfigError, parse_arguments

    with pytest.raises(ConfigError) as err:
        parse_arguments([DEMO, *flags])
    assert expected in str(err.value) and "\n" not in str(err.value)
    if flags[0] == "--optim":
        assert "'sgd'" in str(err.value) and "'adam'" in str(err.value)  # the valid values, plain Adam included


def test_run_script_help_shows_the_config_and_a_bad_flag_is_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    shown = subprocess.run(
        [sys.executable, "training/run.py", "--help"], cwd=root, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: training/run.py [CONFIG.yaml|CONFIG.json] [--flag value ...]")
    assert "positional arguments:\n  config " in shown.stdout
    bad = subprocess.run(
        [sys.executable, "training/run.py", DEMO, "--lr", "1e-3"], cwd=root, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: unknown command-line arguments: --lr 1e-3") and bad.stderr.count("\n") == 1


def test_a_config_value_outside_the_choices_names_the_file(tmp_path):
    from blip_pose.training.arguments import ConfigError, parse_arguments

    config = tmp_path / "bad.yaml"
    config.write_text("dataset_name: sample\noutput_dir: out\noptim: adamw\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: optim 'adamw' is not one of adamw_torch, .*sgd.*, adam$"):
        parse_arguments([str(config)])


def test_label_smoothing_is_one_flag_applied_inside_blips_loss(tmp_path):
    from blip_pose.presets import build_preset
    from blip_pose.training.arguments import parse_arguments
    from blip_pose.training.modeling import load_model_and_processor
    from blip_pose.training.trainer import BlipCaptionTrainer

    flags = ["--output_dir", str(tmp_path), "--label_smoothing_factor", "0.1", "--eval_strategy", "no"]
    _, _, args = parse_arguments([DEMO, *flags, "--load_best_model_at_end", "false"])
    model, processor = build_preset("tiny")
    model.save_pretrained(tmp_path / "tiny")
    processor.save_pretrained(tmp_path / "tiny")
    model, _ = load_model_and_processor(str(tmp_path / "tiny"), args.label_smoothing_factor)
    trainer = BlipCaptionTrainer(model=model, args=args, max_new_tokens=4)
    assert model.text_decoder.label_smoothing == 0.1  # BLIP shifts its labels before smoothing
    assert trainer.label_smoother is None  # the Trainer's smoother would score the logits unshifted
