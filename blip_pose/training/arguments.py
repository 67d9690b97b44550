"""Command-line arguments of ``training/run.py`` and the config-file + CLI-override parsing.

A YAML or JSON config is the first positional argument; its keys become argparse defaults, so every flag given
after it overrides the file. Keys that no dataclass defines are an error naming them (argparse's ``set_defaults``
would accept them silently). Flags are never abbreviated (``--max_step`` is not ``--max_steps``), and a bad flag
or value is one ``error:`` line (exit 2), not argparse's full usage.

One flag per meaning: the optimizer is transformers' ``--optim`` (plus ``adam``, plain Adam, which it lacks; SGD
momentum goes in ``--optim_args momentum=0.9``), label smoothing is ``--label_smoothing_factor`` (applied inside
BLIP's caption loss, see trainer.py).
"""

from __future__ import annotations

import difflib
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml
from transformers import HfArgumentParser, Seq2SeqTrainingArguments, TrainingArguments
from transformers.training_args import OptimizerNames

from blip_pose.dataset_source import SYNTHETIC_FRAMES_HELP, check_synthetic_frames
from blip_pose.run_record import DEFAULT_BASE_MODEL

#: The ``--optim`` value of plain Adam (torch.optim.Adam), the one Table 3 optimizer transformers has no name for.
PLAIN_ADAM = "adam"
OPTIM_CHOICES = (*(name.value for name in OptimizerNames), PLAIN_ADAM)
USAGE = "%(prog)s [CONFIG.yaml|CONFIG.json] [--flag value ...]"


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=DEFAULT_BASE_MODEL,
        metadata={"help": "Hub id, local checkpoint folder, or a named offline preset ('tiny' or 'preset:tiny')."},
    )
    preset_seed: int = field(default=0, metadata={"help": "Seed of a preset's random initialisation."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where Hub downloads are cached."})
    attn_implementation: str = field(
        default="eager",
        metadata={"help": "eager (BLIP's own attention) or sdpa (blip_pose.sdpa: torch's fused attention)."},
    )


@dataclass
class DataArguments:
    dataset_name: str = field(
        metadata={
            "help": "Hub id, a built folder (e.g. mpii_pose_caption), 'sample' to build the bundled sample "
            "into <output_dir>/sample-dataset offline, or 'synthetic' for procedural people (see synthetic_size)."
        },
    )
    # --dataset_name synthetic: generated and built once into <output_dir>/synthetic-<config>-n<size>-seed<seed>.
    synthetic_size: int = field(
        default=2000, metadata={"help": f"Frames generated for --dataset_name synthetic: {SYNTHETIC_FRAMES_HELP}."}
    )
    synthetic_seed: int = field(
        default=0, metadata={"help": "Seed of --dataset_name synthetic: another seed draws other figures."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "paper, video_split or person_crop."})
    caption_column: str = field(
        default="text",
        metadata={
            "help": "text, simple_text, normalized_text, normalized_simple_text, or loc_text (32 added <locN> "
            "coordinate tokens per caption)."
        },
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
    train_eval_samples: int | None = field(
        default=None,
        metadata={
            "help": "Also score the first N training rows at every evaluation (metrics eval_train_*), so the "
            "curves show training beside validation accuracy: the overfitting picture of the simple task."
        },
    )
    pixel_cache: bool = field(
        default=False,
        metadata={
            "help": "Pre-process images to model-ready pixel arrays once (datasets map, cached on disk, keyed by "
            "the processor's settings) and reuse them across epochs and runs: for small models, where decoding "
            "and resizing dominate a step. Float32: 1.7 MB per 384 px image."
        },
    )

    def __post_init__(self) -> None:
        check_synthetic_frames(self.synthetic_size, "--synthetic_size")  # before anything is drawn or built


@dataclass
class PoseTrainingArguments(Seq2SeqTrainingArguments):
    optim: str = field(  # the parent's OptimizerNames | str, with its values (and plain Adam) as choices
        default=Seq2SeqTrainingArguments.optim,
        metadata={
            "help": "The optimizer: transformers' names (sgd, adamw_torch, adamw_torch_fused, ...) or "
            f"{PLAIN_ADAM!r} (plain torch.optim.Adam). Options such as SGD momentum go in --optim_args.",
            "choices": OPTIM_CHOICES,
        },
    )
    label_smoothing_factor: float = field(
        default=0.0,
        metadata={"help": "Label smoothing of BLIP's own caption loss (the method uses 0.1); 0 turns it off."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Start clean when --output_dir holds a previous run: its outputs are deleted first "
            "(transformers 5 dropped its own flag of this name). --resume_from_checkpoint continues it instead."
        },
    )
    constrained_decoding: bool = field(
        default=True,
        metadata={"help": "Evaluate with grammar-constrained decoding (blip_pose.constrained): every caption parses."},
    )
    keep_epochs: list[int] | None = field(
        default=None,
        metadata={
            "help": "Epochs whose checkpoints are kept as epoch-NN/ besides the best and last ones (which "
            "save_total_limit rotates); needs save_strategy epoch."
        },
    )

    def __post_init__(self) -> None:
        plain_adam = self.optim == PLAIN_ADAM
        if plain_adam:  # the parent checks the name against OptimizerNames; put back below
            self.optim = OptimizerNames.ADAMW_TORCH.value
        super().__post_init__()
        if plain_adam:
            self.optim = PLAIN_ADAM
        if not 0.0 <= self.label_smoothing_factor < 1.0:
            raise ValueError(f"--label_smoothing_factor must be in [0, 1), got {self.label_smoothing_factor}")


ARGUMENT_CLASSES = (ModelArguments, DataArguments, PoseTrainingArguments)


class ConfigError(ValueError):
    """A config file or flag that cannot be used; the message names the file and the key."""


class _Parser(HfArgumentParser):
    """An error is a :class:`ConfigError` (one line from the caller), not argparse's usage dump and exit."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see --help)")


def first_per_storage(args: TrainingArguments, desc: str) -> AbstractContextManager[None]:
    """``main_process_first`` once per storage, for what a run writes and then reads (a built dataset, a saved
    preset, the metric module): the run's one main process first, the others then read its files; with
    ``--save_on_each_node`` (the Trainer's flag for machines that share no disk) the main process of each machine.
    Several machines on one shared disk each writing the same folder raced (``preset-tiny.tmp`` vanished)."""
    return args.main_process_first(local=args.save_on_each_node, desc=desc)


def build_parser(classes: tuple[type, ...] = ARGUMENT_CLASSES, prog: str = "training/run.py") -> HfArgumentParser:
    """The parser of ``training/run.py`` (or a script adding its own dataclasses): no abbreviations, the config as
    a positional."""
    parser = _Parser(classes, prog=prog, usage=USAGE, allow_abbrev=False)  # type: ignore[arg-type]
    parser.add_argument(
        "config",
        nargs="?",
        help="YAML or JSON file of argument values (first; flags after it override it), e.g. "
        "training/configs/demo.yaml",
    )
    return parser


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


def _close_flags(arg: str, flags: list[str]) -> list[str]:
    """Flags ``arg`` may have meant: those it abbreviates (at most 3), else one similar spelling."""
    prefixed = [flag for flag in flags if flag.startswith(arg)]
    return prefixed[:3] if prefixed else difflib.get_close_matches(arg, flags, n=1, cutoff=0.75)


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
    model_args, data_args, training_args = parse_dataclasses(ARGUMENT_CLASSES, argv)
    return model_args, data_args, training_args


def parse_dataclasses(
    classes: tuple[type, ...], argv: list[str] | None = None, prog: str = "training/run.py"
) -> tuple[Any, ...]:
    """``[config.yaml|config.json] [--flag value ...]`` -> one instance of each class (other scripts add theirs)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(classes, prog)
    if argv and not argv[0].startswith("-"):
        config_path = argv.pop(0)
        config = read_config(config_path)
        known = {action.dest for action in parser._actions}
        for key in config:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{config_path}: unknown key {key!r}{hint}")
        for action in parser._actions:
            if action.choices is not None and action.dest in config and config[action.dest] not in action.choices:
                raise ConfigError(
                    f"{config_path}: {action.dest} {config[action.dest]!r} is not one of {', '.join(action.choices)}"
                )
        # Lists and numbers keep their YAML types; argparse only converts string defaults.
        parser.set_defaults(**config)
        # A required argument given by the file is no longer required on the command line.
        for action in parser._actions:
            if action.dest in config:
                action.required = False
    try:
        *outputs, remaining = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as err:  # a dataclass's __post_init__ check: one line, like the parser's own errors
        raise ConfigError(str(err).strip().splitlines()[0]) from None
    *parsed, rest = outputs
    unknown: list[str] = list(remaining)
    if rest.config is not None:  # a second positional (or an unknown flag's value): the config comes first, once
        unknown = sorted([*unknown, rest.config], key=argv.index)
    if unknown:
        flags = [option for action in parser._actions for option in action.option_strings if "-" not in option[2:]]
        close = [match for arg in unknown if arg.startswith("--") for match in _close_flags(arg, flags)]
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown command-line arguments: {' '.join(unknown)}{hint}")
    return tuple(parsed)
