"""Issue 13's traps of a user's first hour, one test (or more) each: a card only for a run folder, training into a
previous run's folder, flags without abbreviations, which checkpoint the numbers come from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

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
    from blip_pose.run_folder import RunFolder

    assert not RunFolder(tmp_path).is_run()
    (tmp_path / record).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / record).write_text("{}")
    assert RunFolder(tmp_path).is_run()


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
    from blip_pose.training.trainer import PoseCaptionTrainer

    flags = ["--output_dir", str(tmp_path), "--label_smoothing_factor", "0.1", "--eval_strategy", "no"]
    _, _, args = parse_arguments([DEMO, *flags, "--load_best_model_at_end", "false"])
    model, processor = build_preset("tiny")
    model.save_pretrained(tmp_path / "tiny")
    processor.save_pretrained(tmp_path / "tiny")
    model, _ = load_model_and_processor(str(tmp_path / "tiny"), args.label_smoothing_factor)
    trainer = PoseCaptionTrainer(model=model, args=args, max_new_tokens=4)
    assert model.text_decoder.label_smoothing == 0.1  # BLIP shifts its labels before smoothing
    assert trainer.label_smoother is None  # the Trainer's smoother would score the logits unshifted


def _run_folder(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    return folder


def _training_args(folder, *flags):
    from blip_pose.training.arguments import parse_arguments

    return parse_arguments([DEMO, "--output_dir", str(folder), "--overwrite_output_dir", "false", *flags])[2]


def test_a_previous_run_in_output_dir_stops_training_unless_told(tmp_path):
    # Trap 2: a 10-step run into outputs/demo left the old checkpoint-800 and predictions beside the new ones.
    from blip_pose.training.arguments import ConfigError
    from blip_pose.training.output_dir import check_output_dir

    old = ("checkpoint-800/training_args.json", "run_config.json", "predictions/step-000800.jsonl", "model.safetensors")
    run = _run_folder(tmp_path / "demo", *old, "sample-dataset/reports/paper.json", "preset-tiny/config.json")
    with pytest.raises(ConfigError) as err:
        check_output_dir(_training_args(run))
    message = str(err.value)
    assert "holds a previous run (checkpoint-800, model.safetensors, predictions, run_config.json)" in message
    assert "--overwrite_output_dir" in message and "--resume_from_checkpoint" in message
    assert (run / "checkpoint-800").is_dir()  # nothing deleted

    check_output_dir(_training_args(run, "--resume_from_checkpoint", "last"))  # continuing is allowed
    assert (run / "checkpoint-800").is_dir()
    check_output_dir(_training_args(run, "--overwrite_output_dir", "true"))  # start clean
    assert sorted(p.name for p in run.iterdir()) == ["preset-tiny", "sample-dataset"]  # cached inputs are kept
    check_output_dir(_training_args(run))  # now free


def test_overwrite_never_deletes_a_folder_that_is_no_run(tmp_path):
    from blip_pose.training.arguments import ConfigError
    from blip_pose.training.output_dir import check_output_dir

    project = _run_folder(tmp_path / "project", "README.md", "pyproject.toml")
    with pytest.raises(ConfigError, match="is not empty .* and holds no training run"):
        check_output_dir(_training_args(project, "--overwrite_output_dir", "true"))
    assert sorted(p.name for p in project.iterdir()) == ["README.md", "pyproject.toml"]
    check_output_dir(_training_args(tmp_path / "new"))  # a new folder is fine


def test_the_demo_config_stays_rerunnable():
    from blip_pose.training.arguments import parse_arguments

    assert parse_arguments([DEMO])[2].overwrite_output_dir


def _scripted_run(folder, scores):
    """A real tiny run (3 steps, an evaluation and a save after each) whose evaluations score ``scores`` in turn:
    the Trainer's own best-metric rule, saving and ``load_best_model_at_end`` decide, and run.py records it."""
    from training_fixtures import ROOT, run, sample_dataset

    from blip_pose.training.evaluation import PoseMetrics

    real_score, queue = PoseMetrics.score, list(scores)

    def score(self, captions):
        result, xy, found = real_score(self, captions)
        return ({**result, "accuracy@25": queue.pop(0)} if queue else result), xy, found

    data = sample_dataset(folder / "data", n_train=4)
    flags = ["--max_steps", "3", "--per_device_train_batch_size", "2", "--max_eval_samples", "2"]
    flags += ["--eval_strategy", "steps", "--eval_steps", "1", "--save_strategy", "steps", "--save_steps", "1"]
    flags += ["--metric_for_best_model", "accuracy@25", "--load_best_model_at_end", "true"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PoseMetrics, "score", score)
        run.main(
            [
                str(ROOT / "training/configs/tiny_test.yaml"),
                "--dataset_name",
                str(data),
                "--output_dir",
                str(folder / "run"),
                *flags,
            ]
        )
    assert queue == []  # every scripted score was an evaluation's
    return folder / "run"


def _records(run):
    state = json.loads((run / "trainer_state.json").read_text())
    return state, json.loads((run / "checkpoint_choice.json").read_text())


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory):
    return _scripted_run(tmp_path_factory.mktemp("scored"), [0.0, 0.5, 0.25])


def test_a_run_that_never_scored_keeps_its_last_checkpoint_and_says_why(tmp_path, scored_run):
    # Trap 5: with every score 0, the first checkpoint "won".
    state, choice = _records(_scripted_run(tmp_path, [0.0, 0.0, 0.0]))
    assert state["best_model_checkpoint"] is None  # load_best_model_at_end had nothing to load: the last model stays
    assert choice["rule"] == "last" and choice["step"] == 3
    assert "never rose above 0 in 3 evaluations" in choice["description"]

    state, choice = _records(scored_run)
    assert (choice["checkpoint"], choice["rule"]) == ("checkpoint-2", "best")
    assert choice["description"].startswith("checkpoint-2 (step 2 of 3), the best accuracy@25 of 3 evaluations")
    assert "`validation` split (2 images)" in choice["description"] and "optimistic" in choice["description"]


def test_card_and_summary_say_which_checkpoint_the_numbers_are_from(tmp_path, scored_run):
    from blip_pose.card import write_model_card
    from blip_pose.training.report import run_summary, save_checkpoint_choice

    state, choice = _records(scored_run)
    args = _training_args(tmp_path, "--metric_for_best_model", "accuracy@25", "--load_best_model_at_end", "true")
    run = _run_folder(tmp_path / "run", "run_config.json", "plots/loss.png", "model.safetensors")
    (run / "all_results.json").write_text('{"eval_accuracy@25": 0.5, "eval_mae": 3.0}')
    save_checkpoint_choice(choice, run)
    card = write_model_card(run).read_text()
    assert "The numbers are those of checkpoint-2 (step 2 of 3), the best accuracy@25" in card
    final = {"eval_accuracy@25": 0.5, "eval_accuracy@5": 0.25, "eval_mae": 3.0, "eval_pck@5/head": 0.1}
    history = state["log_history"]
    summary = run_summary(run, history, final, choice, args)
    assert "final scores of checkpoint-2 (step 2 of 3)" in summary
    assert "accuracy@25 0.500, accuracy@5 0.250, mae 3.00 px" in summary and "pck@5/head" not in summary
    assert f"model card:  {run / 'README.md'}" in summary and f"plots:       {run / 'plots'}" in summary
    assert "overlays" not in summary  # only outputs that exist are listed
    assert "before training" not in summary  # no evaluation at step 0 in this run

    start = {"step": 0, "eval_accuracy@25": 0.125, "eval_mae": 9.5}
    summary = run_summary(run, [start, *history], final, choice, args)
    assert "  scores before training (step 0):\n    accuracy@25 0.125, mae 9.50 px\n  final scores of" in summary


def test_console_logs_show_headline_scores_only():
    # Trap 6: a ~49-key dict per evaluation on the console.
    from blip_pose.training.report import headline

    logs = {"eval_loss": 1.0, "eval_accuracy@25": 0.5, "eval_pck@5/rankl": 0.1, "eval_mae_x": 2.0, "epoch": 3.0}
    assert headline(logs) == {"eval_loss": 1.0, "epoch": 3.0, "eval_accuracy@25": 0.5}
    assert headline({"loss": 2.0, "learning_rate": 1e-3}) == {"loss": 2.0, "learning_rate": 1e-3}


def test_inspect_with_a_config_that_is_not_built_is_an_error(tmp_path, capsys):
    # Trap 9: `inspect --config nope` without --overlays returned 0.
    from mpii_pose_dataset.cli import main as dataset_main
    from mpii_pose_dataset.export import build
    from mpii_pose_dataset.sample import SAMPLE_DIR

    build(tmp_path / "built", data_dir=SAMPLE_DIR, configs=["paper"])
    capsys.readouterr()
    assert dataset_main(["inspect", str(tmp_path / "built"), "--config", "nope"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'built'}: config 'nope' is not built here (built: paper)\n"
    assert dataset_main(["inspect", str(tmp_path / "built"), "--config", "paper"]) == 0


def test_console_script_usage_names_itself(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["/usr/bin/blip-pose", "--help"])
    with pytest.raises(SystemExit):
        blip_pose_main()
    assert capsys.readouterr().out.startswith("usage: blip-pose ")
    monkeypatch.setattr("sys.argv", ["/x/blip_pose/__main__.py", "--help"])
    with pytest.raises(SystemExit):
        blip_pose_main()
    assert capsys.readouterr().out.startswith("usage: python -m blip_pose ")


def test_plots_of_a_run_whose_early_evaluations_parsed_nothing(tmp_path):
    # Trap 7: validation loss not drawn, empty mae axis; here both figures are written and a loss-only run gets
    # no empty validation figure.
    from blip_pose.training.plots import plot_training_curves

    nan = float("nan")
    history = [{"step": s, "loss": 5.0 / s} for s in (10, 20, 30)] + [
        {
            "step": s,
            "eval_loss": 2.0,
            "eval_accuracy@25": a,
            "eval_accuracy@5": 0.0,
            "eval_accuracy@1": 0.0,
            "eval_mae": m,
        }
        for s, a, m in ((10, 0.0, nan), (20, 0.0, nan), (30, 0.5, 12.0))
    ]
    written = plot_training_curves(history, tmp_path / "run")
    assert [p.name for p in written] == ["training_loss.png", "validation_metrics.png"]
    assert [p.name for p in plot_training_curves(history[:3], tmp_path / "short")] == ["training_loss.png"]
    none_parsed = [{**row, "eval_mae": nan} for row in history]
    assert len(plot_training_curves(none_parsed, tmp_path / "none")) == 2  # a "no data" panel, not an error


def test_the_data_note_fits_the_narrow_loss_figure(tmp_path):
    # The synthetic-data note ran past both edges of the 6-inch loss figure; it is wrapped to the figure's width.
    from blip_pose.training.plots import plot_training_curves

    history = [{"step": s, "loss": 5.0 / s} for s in (10, 20, 30)]
    note = "synthetic stick figures (10000 procedural frames, seed 1; validation on held-out figures), not MPII photos"
    (path,) = plot_training_curves(history, tmp_path / "run", note)
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 110) & (pixels[..., 2] < 110)
    assert red[:60].sum() > 100  # the note is drawn ...
    assert not red[:, :4].any() and not red[:, -4:].any()  # ... and no letter is cut by the image's edge
