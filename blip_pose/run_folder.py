"""Every path inside a training run's output folder, named in one place.

Training writes the folder; the card, the predictor, the demo, the analyses, the Hub push and the shipped models
read it. Each asks :class:`RunFolder` (or these constants) for a name instead of spelling it, so the layout is
changed here or nowhere (``tests/test_run_folder.py`` checks that no other module spells one). A shipped or pushed
model folder is a run folder's top level without the checkpoints, so the predictor reads it with the same names.

``checkpoint-<step>`` and ``trainer_state.json`` are transformers' (``PREFIX_CHECKPOINT_DIR``,
``TRAINER_STATE_NAME``), spelled here so that the light modules (card, run records) need no transformers import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blip_pose.keypoints import KEYPOINTS_FILE

#: The run's settings: ``{"model": ..., "data": ..., "training": ...}`` (:mod:`blip_pose.run_record` reads it).
RUN_CONFIG_FILE = "run_config.json"
#: The Trainer's arguments as JSON (``training_args.bin`` is a pickle and never read).
TRAINING_ARGS_FILE = "training_args.json"
#: The Trainer's merged ``save_metrics`` of the run (train and final evaluation).
RESULTS_FILE = "all_results.json"
#: How the numbers of a run were chosen: which checkpoint, by what rule (written by training, read by the card).
CHECKPOINT_CHOICE_FILE = "checkpoint_choice.json"
#: The input frame a model was trained in (:class:`blip_pose.geometry.Preprocessing`).
PREPROCESSING_FILE = "preprocessing.json"
#: The model card.
CARD_FILE = "README.md"
#: The Trainer's state (``log_history``, best checkpoint), in the run folder and in every checkpoint.
TRAINER_STATE_FILE = "trainer_state.json"
#: Folder of the training curves (training/plots.py writes them, a push may include them).
PLOTS_DIR = "plots"
#: Folder of the validation overlays of the final evaluation.
OVERLAYS_DIR = "overlays"
#: Folder of every evaluation's predictions (``<step>.jsonl``).
PREDICTIONS_DIR = "predictions"
#: Folder of a run's analyses (``python -m blip_pose analyze`` writes ``analysis/<command>/`` there; a re-run keeps
#: it, an overwrite too: it is the user's work).
ANALYSIS_DIR = "analysis"
#: TensorBoard's logs (the Trainer's default ``logging_dir``).
TENSORBOARD_DIR = "runs"
CHECKPOINT_PREFIX = "checkpoint-"
#: A model preset saved as the run's starting checkpoint: ``preset-<name>``.
PRESET_PREFIX = "preset-"
#: Where training builds the bundled sample (``--dataset_name sample``).
SAMPLE_DATASET_FOLDER = "sample-dataset"
#: Where training builds procedural people (``--dataset_name synthetic``): ``synthetic-<config>-n<size>-seed<seed>``.
SYNTHETIC_DATASET_PREFIX = "synthetic-"
#: Records only this project's training writes: a folder holding one of them (or a checkpoint with training
#: arguments) is a run.
RUN_RECORDS = (RUN_CONFIG_FILE, TRAINING_ARGS_FILE, TRAINER_STATE_FILE)
#: The records that travel with a model (pushed, shipped, read by the predictor) when the run wrote them.
MODEL_RECORDS = (PREPROCESSING_FILE, RUN_CONFIG_FILE, KEYPOINTS_FILE)
#: Inputs training caches in its output folder and reuses (glob patterns): kept by an overwrite.
CACHED_INPUTS = (SAMPLE_DATASET_FOLDER, f"{SYNTHETIC_DATASET_PREFIX}*", f"{PRESET_PREFIX}*")


@dataclass(frozen=True)
class RunFolder:
    """A run's output folder (it need not exist yet): ``RunFolder(out).run_config`` is ``out/run_config.json``."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def run_config(self) -> Path:
        return self.path / RUN_CONFIG_FILE

    @property
    def training_args(self) -> Path:
        return self.path / TRAINING_ARGS_FILE

    @property
    def results(self) -> Path:
        return self.path / RESULTS_FILE

    @property
    def checkpoint_choice(self) -> Path:
        return self.path / CHECKPOINT_CHOICE_FILE

    @property
    def preprocessing(self) -> Path:
        return self.path / PREPROCESSING_FILE

    @property
    def keypoints(self) -> Path:
        return self.path / KEYPOINTS_FILE

    @property
    def card(self) -> Path:
        return self.path / CARD_FILE

    @property
    def trainer_state(self) -> Path:
        return self.path / TRAINER_STATE_FILE

    @property
    def plots(self) -> Path:
        return self.path / PLOTS_DIR

    @property
    def overlays(self) -> Path:
        return self.path / OVERLAYS_DIR

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS_DIR

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD_DIR

    def analysis(self, command: str) -> Path:
        """Where ``python -m blip_pose analyze COMMAND`` writes for this run."""
        return self.path / ANALYSIS_DIR / command

    def checkpoint(self, step: int) -> Path:
        return self.path / f"{CHECKPOINT_PREFIX}{step}"

    def checkpoints(self) -> list[Path]:
        """The ``checkpoint-<step>`` folders there, by step (complete or not: :mod:`blip_pose.checkpoint` judges)."""
        found = [p for p in self.path.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and checkpoint_step(p) is not None]
        return sorted(found, key=lambda p: checkpoint_step(p) or 0)

    def preset(self, name: str) -> Path:
        """Where a model preset is saved as the run's starting checkpoint."""
        return self.path / f"{PRESET_PREFIX}{name}"

    @property
    def sample_dataset(self) -> Path:
        return self.path / SAMPLE_DATASET_FOLDER

    def synthetic_dataset(self, config: str, size: int, seed: int) -> Path:
        """A folder per config, size and seed, so a changed setting never reads a stale build."""
        return self.path / f"{SYNTHETIC_DATASET_PREFIX}{config}-n{size}-seed{seed}"

    def is_run(self) -> bool:
        """Whether the folder is a training run's output, recognised by the records training writes."""
        if any((self.path / name).is_file() for name in RUN_RECORDS):
            return True
        return any((path / TRAINING_ARGS_FILE).is_file() for path in self.checkpoints())


def checkpoint_step(path: str | Path) -> int | None:
    """``.../checkpoint-120`` -> 120; None for any other name."""
    step = Path(path).name.removeprefix(CHECKPOINT_PREFIX)
    return int(step) if Path(path).name.startswith(CHECKPOINT_PREFIX) and step.isdigit() else None
