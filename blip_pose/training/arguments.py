"""Command-line arguments of ``training/run.py`` and the config-file + CLI-override parsing.

A YAML or JSON config is the first positional argument; its keys become argparse defaults, so every flag given
after it overrides the file. Keys that no dataclass defines are an error naming them (argparse's ``set_defaults``
would accept them silently).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser, Seq2SeqTrainingArguments

from blip_pose.card import DEFAULT_BASE_MODEL

#: Table 3's optimizers, as torch classes (Adam is not one of the Trainer's ``--optim`` names).
OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=DEFAULT_BASE_MODEL,
        metadata={"help": "Hub id, local checkpoint folder, or a named offline preset ('tiny' or 'preset:tiny')."},
    )
    label_smoothing: float | None = field(
        default=None,
        metadata={
            "help": "Label smoothing of BLIP's caption loss. None keeps the checkpoint's value (0.0 in "
            "transformers >= 4.38 configs; BLIP's code hard-coded 0.1 before). The Trainer's "
            "--label_smoothing_factor must stay 0: it would score BLIP's logits unshifted."
        },
    )
    preset_seed: int = field(default=0, metadata={"help": "Seed of a preset's random initialisation."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where Hub downloads are cached."})


@dataclass
class DataArguments:
    dataset_name: str = field(
        metadata={
            "help": "Hub id, a built folder (e.g. mpii_pose_caption), or 'sample' to build the bundled sample "
            "into <output_dir>/sample-dataset offline."
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "paper, video_split or person_crop."})
    caption_column: str = field(
        default="text", metadata={"help": "text, simple_text, normalized_text or normalized_simple_text."}
    )
    image_column: str = field(default="image")
    train_split: str = field(default="train")
    eval_split: str = field(default="validation")
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N evaluation rows."})
    max_caption_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Longest tokenized caption allowed (default: the tokenizer's model_max_length); "
            "a longer caption is an error, never a silent truncation."
        },
    )
    validate_images: bool = field(default=True, metadata={"help": "Decode every image before training starts."})
    num_overlays: int = field(default=4, metadata={"help": "Validation images drawn with predicted skeletons."})


@dataclass
class PoseTrainingArguments(Seq2SeqTrainingArguments):
    optimizer: str | None = field(
        default=None,
        metadata={"help": f"One of {OPTIMIZERS} (the method's Table 3); overrides --optim when set."},
    )
    sgd_momentum: float = field(default=0.0, metadata={"help": "Momentum of --optimizer sgd."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")


ARGUMENT_CLASSES = (ModelArguments, DataArguments, PoseTrainingArguments)


class ConfigError(ValueError):
    """A config file or flag that cannot be used; the message names the file and the key."""


def read_config(path: str | Path) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``) or JSON config as a flat dict of argument names to values."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as err:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(f"{path}: not a valid {kind} file: {_where(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of argument names to values, got {type(data).__name__}")
    return data


def _where(err: Exception) -> str:
    """A parser's error as one line: ``line L, column C: problem``."""
    mark = getattr(err, "problem_mark", None)
    if isinstance(err, json.JSONDecodeError):
        return f"line {err.lineno}, column {err.colno}: {err.msg}"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {getattr(err, 'problem', err)}"
    return " ".join(str(err).split())


def parse_arguments(
    argv: list[str] | None = None,
) -> tuple[ModelArguments, DataArguments, PoseTrainingArguments]:
    """``[config.yaml|config.json] [--flag value ...]`` -> the three argument dataclasses."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(ARGUMENT_CLASSES)  # type: ignore[arg-type]  # its DataClassType is a Protocol-less alias
    if argv and not argv[0].startswith("-"):
        config_path = argv.pop(0)
        config = read_config(config_path)
        known = {action.dest for action in parser._actions}
        for key in config:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{config_path}: unknown key {key!r}{hint}")
        # Lists and numbers keep their YAML types; argparse only converts string defaults.
        parser.set_defaults(**config)
        # A required argument given by the file is no longer required on the command line.
        for action in parser._actions:
            if action.dest in config:
                action.required = False
    model_args, data_args, training_args, unknown = parser.parse_args_into_dataclasses(
        args=argv, return_remaining_strings=True
    )
    if unknown:
        raise ConfigError(f"unknown command-line arguments: {' '.join(unknown)}")
    return model_args, data_args, training_args
