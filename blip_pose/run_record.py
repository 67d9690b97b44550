"""The JSON side files of a training run's output folder (named by :mod:`blip_pose.run_folder`): what they hold
and how they are read back by the model card, the predictor and the demo.

``training_args.bin`` (the Trainer's pickle) is never read: settings come from ``run_config.json`` (model, data and
key training arguments) or, for training hyperparameters only, from ``training_args.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blip_pose.dataset_source import synthetic_note
from blip_pose.pose_format import caption_column
from blip_pose.run_folder import RunFolder

#: The default ``--model_name_or_path``: what a run that records none started from (the card's base model).
DEFAULT_BASE_MODEL = "Salesforce/blip-image-captioning-base"
#: The ``--dataset_name`` that makes training build the bundled synthetic sample (and the card say it is synthetic).
SAMPLE_DATASET_NAME = "sample"
#: The ``--dataset_name`` that makes training generate procedural people (``mpii_pose_dataset.synthetic``).
SYNTHETIC_DATASET_NAME = "synthetic"
#: Dataset names of synthetic stick figures, not photos: card, plots and demo page say so wherever results show.
SYNTHETIC_DATASET_NAMES = frozenset({SAMPLE_DATASET_NAME, SYNTHETIC_DATASET_NAME})
#: Key of ``run_config.json``'s data section holding the dataset card's recorded source (``blip_pose.dataset_source``).
DATASET_SOURCE_KEY = "dataset_source"
#: Key of ``run_config.json``'s ``data`` section: the dataset training loaded, ``{"path": built folder (absolute) or
#: Hub id, "config_name": ...}``, so that a run's data is read back as it was, never re-derived from its name.
RESOLVED_DATASET_KEY = "resolved_dataset"
#: Training settings the card shows, in this order (also the keys taken from ``training_args.json``).
TRAINING_KEYS = (
    "model_name_or_path",
    "optim",
    "optim_args",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "warmup_ratio",
    "weight_decay",
    "label_smoothing_factor",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_train_samples",
    "generation_num_beams",
    "bf16",
    "fp16",
    "seed",
)


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when the file does not exist, an error naming it when it is not JSON."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def flatten_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """``{"model": {...}, "data": {...}, "training": {...}}`` or an already flat dict -> one flat dict."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def load_run_config(output_dir: str | Path) -> dict[str, Any]:
    """The run's settings as one flat dict (``{}`` when neither file exists)."""
    run = RunFolder(output_dir)
    config = read_json(run.run_config)
    if config:
        return flatten_run_config(config)
    args = read_json(run.training_args)
    return {key: args[key] for key in TRAINING_KEYS if key in args}


def caption_column_name(run_config: dict[str, Any]) -> str:
    """The coordinate caption column a run trained on (``text`` when not recorded); an error for any other column."""
    return caption_column(run_config.get("caption_column", "text")).name


def synthetic_data_note(run_config: dict[str, Any]) -> str | None:
    """What a run trained and was scored on when that was synthetic (None for any other dataset).

    The dataset card's recorded source (copied into the run config as ``dataset_source``) decides, so a synthetic
    folder given by path is still called synthetic; runs recorded before sources were kept fall back to the name.
    """
    source = run_config.get(DATASET_SOURCE_KEY)
    if isinstance(source, dict):
        return synthetic_note(source)
    name = run_config.get("dataset_name")
    if name not in SYNTHETIC_DATASET_NAMES:
        return None
    frames = run_config.get("synthetic_size", "?") if name == SYNTHETIC_DATASET_NAME else None
    kind = "sample" if name == SAMPLE_DATASET_NAME else "synthetic"
    return synthetic_note({"kind": kind, "frames": frames, "seed": run_config.get("synthetic_seed", "?")})
