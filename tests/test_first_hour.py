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
