"""Kill -9 anywhere, then ``--resume_from_checkpoint last``: the run ends as if it had never been killed.

A paper.yaml run (epoch checkpoints, ``save_total_limit 2`` rotation, kept epochs, best-checkpoint choice) of the tiny
preset is killed with SIGKILL at one named point after another, each resumed run being killed at the next one:
while saving the preset (before any checkpoint), during a training step, while writing a checkpoint, half-way through
its ``trainer_state.json``, while hard-linking a kept epoch, during the rotation, in the final evaluation, half-way
through ``all_results.json`` and the card, and while drawing the plots. The last resume must leave the same results,
card, checkpoint choice, history, checkpoints and plots as one uninterrupted run. Runs are forked from one server
process (imports paid once), and each kill point is a function patched in the child only: deterministic, and no hook
in the library.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from safetensors.numpy import load_file
from training_fixtures import run, sample_dataset
from transformers import Trainer, TrainerState

from blip_pose.training import modeling, session
from blip_pose.training.trainer import PoseCaptionTrainer

PAPER = Path(__file__).resolve().parents[1] / "training" / "configs" / "paper.yaml"
#: paper.yaml made small: 8 images in 2 steps an epoch, 4 epochs, scored each epoch on 2 of them.
FLAGS = (
    *("--model_name_or_path", "tiny", "--use_cpu", "true", "--report_to", "none", "--learning_rate", "1e-3"),
    *("--per_device_train_batch_size", "4", "--num_train_epochs", "4", "--keep_epochs", "1", "3"),
    *("--max_eval_samples", "2", "--generation_max_length", "8", "--num_overlays", "1"),
    *("--dataloader_num_workers", "0", "--dataloader_persistent_workers", "false"),
)
#: Keys that time the run: a resumed run's cover only its own part.
TIMING = ("runtime", "per_second", "train_resumed_from_step")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _cut_then_die(path: str | Path) -> None:
    """As if killed half-way through writing ``path``."""
    os.truncate(path, os.path.getsize(path) // 2)
    _die()


def _patch(owner: Any, name: str, wrapper: Callable[..., Callable[..., Any]]) -> None:
    setattr(owner, name, wrapper(getattr(owner, name)))


# Kill points, in the order a run reaches them; each patches the forked child before the run starts.


def saving_the_preset() -> None:
    """Before the first checkpoint: resuming is starting again, from a preset saved whole."""

    def save(original):
        def save_preset(name, output_dir, seed=0, **kwargs):
            _cut_then_die(original(name, output_dir, seed, **kwargs) / "model.safetensors")

        return save_preset

    _patch(modeling, "save_preset", save)


def during_step_3() -> None:
    def step(original):
        def training_step(self, *args, **kwargs):
            if self.state.global_step == 2:
                _die()
            return original(self, *args, **kwargs)

        return training_step

    _patch(PoseCaptionTrainer, "training_step", step)


def writing_checkpoint_4() -> None:
    """Weights and optimizer written, RNG state and trainer state not yet."""

    def rng(original):
        def _save_rng_state(self, output_dir):
            if self.state.global_step == 4:
                _die()
            return original(self, output_dir)

        return _save_rng_state

    _patch(Trainer, "_save_rng_state", rng)


def half_way_through_checkpoint_4_state() -> None:
    def save(original):
        def save_to_json(self, json_path):
            original(self, json_path)
            if Path(json_path).parent.name == "checkpoint-4":
                _cut_then_die(json_path)

        return save_to_json

    _patch(TrainerState, "save_to_json", save)


def linking_kept_epoch_3() -> None:
    def link(original):
        def os_link(source, target, *args, **kwargs):
            original(source, target, *args, **kwargs)
            if Path(target).parent.name == "epoch-03" and len(list(Path(target).parent.iterdir())) == 3:
                _die()

        return os_link

    _patch(os, "link", link)


def rotating_after_checkpoint_8() -> None:
    """The rotation deletes checkpoint-4 after saving checkpoint-8: two of its files go, then the kill."""

    def rmtree(original):
        def shutil_rmtree(path, *args, **kwargs):
            folder = Path(path)
            if folder.name.startswith("checkpoint-") and (folder.parent / "checkpoint-8").is_dir():
                for file in sorted(folder.iterdir())[:2]:
                    file.unlink()
                _die()
            return original(path, *args, **kwargs)

        return shutil_rmtree

    import shutil

    _patch(shutil, "rmtree", rmtree)


def in_the_final_evaluation() -> None:
    def evaluate(original):
        def final(self, *args, **kwargs):
            if not self.is_in_train:
                _die()
            return original(self, *args, **kwargs)

        return final

    _patch(PoseCaptionTrainer, "evaluate", evaluate)


def half_way_through_all_results() -> None:
    def save_metrics(original):
        def save(self, split, metrics, *args, **kwargs):
            original(self, split, metrics, *args, **kwargs)
            if split == "eval":
                _cut_then_die(Path(self.args.output_dir) / "all_results.json")

        return save

    _patch(Trainer, "save_metrics", save_metrics)


def half_way_through_the_card() -> None:
    def card(original):
        def write_model_card(output_dir, **kwargs):
            _cut_then_die(original(output_dir, **kwargs))

        return write_model_card

    _patch(run, "write_model_card", card)  # the card step the script hands set_up (the library imports no card)


def drawing_the_plots() -> None:
    def plots(original):
        def plot_training_curves(history, output_dir, *args):
            original(history, output_dir, *args)
            _cut_then_die(Path(output_dir) / "plots" / "training_loss.png")

        return plot_training_curves

    _patch(session, "plot_training_curves", plots)


KILL_POINTS = (
    saving_the_preset,
    during_step_3,
    writing_checkpoint_4,
    half_way_through_checkpoint_4_state,
    linking_kept_epoch_3,
    rotating_after_checkpoint_8,
    in_the_final_evaluation,
    half_way_through_all_results,
    half_way_through_the_card,
    drawing_the_plots,
)


def _child(argv: list[str], kill_point: str | None, log: Path) -> None:
    """``run.main(argv)`` with its output in ``log``, ``kill_point`` (a function of this module) patched in first."""
    with log.open("a") as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
    if kill_point is not None:
        globals()[kill_point]()
    run.main(argv)


#: Children are forked from a fresh server process that imported the training stack once: forking the pytest process
#: itself, after other tests ran torch on several threads, left a child blocked forever on a lock of its thread pool.
_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload(["torch", "transformers", "datasets", "blip_pose.training.evaluation"])


def _forked_run(argv: list[str], log: Path, kill_point: Callable[[], None] | None = None) -> int | None:
    """The exit code of ``run.main(argv)`` in a child process (0, 1 on an exception, -9 when killed by SIGKILL)."""
    child = _FORKSERVER.Process(target=_child, args=(argv, kill_point and kill_point.__name__, log))
    child.start()
    child.join()
    return child.exitcode


def _argv(output: Path, dataset: Path, *flags: str) -> list[str]:
    return [str(PAPER), "--dataset_name", str(dataset), "--output_dir", str(output), *FLAGS, *flags]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return sample_dataset(tmp_path_factory.mktemp("sample") / "eight", n_train=8, eval_is_train=True)


def _untimed(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if not any(part in key for part in TIMING)}


def _outcome(output: Path) -> dict[str, Any]:
    """What a finished run leaves, with paths and timings taken out."""
    state = json.loads((output / "trainer_state.json").read_text())
    folders = sorted(p for p in output.iterdir() if p.name.startswith(("checkpoint-", "epoch-")))
    weights = load_file(str(output / "model.safetensors"))
    return {
        "results": _untimed(json.loads((output / "all_results.json").read_text())),
        "eval": _untimed(json.loads((output / "eval_results.json").read_text())),
        "choice": json.loads((output / "checkpoint_choice.json").read_text()),
        "card": (output / "README.md").read_text().replace(str(output), "<run>"),
        "history": [_untimed(row) for row in state["log_history"]],
        "best": (state["best_model_checkpoint"] or "").replace(str(output), "<run>"),
        "folders": {p.name: sorted(f.name for f in p.iterdir()) for p in folders},
        "kept steps": {p.name: json.loads((p / "trainer_state.json").read_text())["global_step"] for p in folders},
        "top level": sorted(p.name for p in output.iterdir()),
        "plots": sorted(p.name for p in (output / "plots").iterdir()),
        "predictions": sorted(p.name for p in (output / "predictions").iterdir()),
        "final predictions": (output / "predictions" / "final.jsonl").read_text(),
        "weights": {name: value.tobytes() for name, value in weights.items()},
    }


def test_killed_anywhere_then_resumed_ends_like_an_uninterrupted_run(tmp_path, dataset):
    reference = tmp_path / "reference" / "run"
    assert _forked_run(_argv(reference, dataset), tmp_path / "reference.log") == 0
    expected = _outcome(reference)
    assert sorted(expected["folders"]) == ["checkpoint-6", "checkpoint-8", "epoch-01", "epoch-03"]  # rotated, kept

    killed = tmp_path / "killed" / "run"
    for kill_point in KILL_POINTS:
        log = tmp_path / f"{kill_point.__name__}.log"
        status = _forked_run(_argv(killed, dataset, "--resume_from_checkpoint", "last"), log, kill_point)
        assert status == -signal.SIGKILL, f"not killed {kill_point.__name__} (exit {status}; see {log})"
        if kill_point is writing_checkpoint_4:
            assert not (killed / "checkpoint-4" / "trainer_state.json").exists()  # the kill left a partial save
    assert _forked_run(_argv(killed, dataset, "--resume_from_checkpoint", "last"), tmp_path / "last.log") == 0

    outcome = _outcome(killed)
    for key, value in expected.items():
        assert outcome[key] == value, key
    results = json.loads((killed / "all_results.json").read_text())
    assert results["train_resumed_from_step"] == 8  # the last resume trained no step


def test_resuming_a_finished_run_trains_nothing_and_a_longer_one_survives_rotation(tmp_path, dataset):
    """Resumed at its last step (3, inside the second epoch) a run trains no step more and saves nothing; continued to
    step 5, its rotation deletes the checkpoint it resumed from, and the run still ends with its card and choice.
    Neither resumed run scores its first step again (``eval_on_start``)."""
    out, log = tmp_path / "run", tmp_path / "resumed.log"
    flags = ("--keep_epochs", "1", "--eval_on_start", "true")
    assert _forked_run(_argv(out, dataset, *flags, "--max_steps", "3"), tmp_path / "first.log") == 0
    assert _forked_run(_argv(out, dataset, *flags, "--max_steps", "3", "--resume_from_checkpoint", "last"), log) == 0
    assert "the resumed run had trained all 3 steps: no step more" in log.read_text()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [row["step"] for row in history if "eval_loss" in row] == [0, 2, 3]

    for name in ("README.md", "checkpoint_choice.json"):
        (out / name).unlink()
    longer = (*flags, "--max_steps", "5", "--resume_from_checkpoint", "last")
    assert _forked_run(_argv(out, dataset, *longer), tmp_path / "longer.log") == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-5"]  # 3 rotated away
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [row["step"] for row in history if "eval_loss" in row] == [0, 2, 3, 4, 5]
    assert json.loads((out / "all_results.json").read_text())["train_resumed_from_step"] == 3
    assert json.loads((out / "checkpoint_choice.json").read_text())["step"] == 5
    assert "Accuracy@5 px" in (out / "README.md").read_text()
