"""Loading a captioner and its processor: Hub id, local checkpoint, or a named offline preset saved as a checkpoint;
the family of its ``config.json`` (:mod:`blip_pose.models`) loads it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from huggingface_hub.errors import HFValidationError
from safetensors import SafetensorError, safe_open
from transformers import PreTrainedModel, TrainerState
from transformers.processing_utils import ProcessorMixin
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import rotate_checkpoints

from blip_pose.checkpoint import local_or_hub, missing_processor_parts, missing_weights
from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.loc_tokens import add_loc_tokens
from blip_pose.models import family_for_checkpoint, family_for_config
from blip_pose.pose_format import CAPTION_COLUMNS, LOC
from blip_pose.presets import PRESETS, save_preset
from blip_pose.pretrained import resolve_pretrained
from blip_pose.run_folder import CACHED_INPUTS, CHECKPOINT_PREFIX, PREDICTIONS_DIR, TENSORBOARD_DIR, RunFolder
from blip_pose.run_record import read_json
from blip_pose.sdpa import set_attention
from blip_pose.training.results import ResumePoint

logger = logging.getLogger(__name__)
PRESET_PREFIX = "preset:"


class CheckpointError(ValueError):
    """A model or processor that cannot be loaded; the message names the checkpoint."""


def preset_name(model_name_or_path: str) -> str | None:
    """``"tiny"`` or ``"preset:tiny"`` -> ``"tiny"``; a local folder or Hub id -> None."""
    if Path(model_name_or_path).is_dir():
        return None
    name = model_name_or_path.removeprefix(PRESET_PREFIX)
    if name in PRESETS:
        return name
    if model_name_or_path.startswith(PRESET_PREFIX):
        raise CheckpointError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return None


def resolve_checkpoint(
    model_name_or_path: str, output_dir: str | Path, seed: int = 0, spec: KeypointSpec = DEFAULT_SPEC
) -> str:
    """A path or Hub id that ``from_pretrained`` can load; a preset is saved to ``<output_dir>/preset-<name>`` with
    the caption vocabulary of ``spec`` (the dataset's keypoint set), ``pretrained:<name>`` is the folder the
    package ships (:mod:`blip_pose.pretrained`).

    Saving the preset first means the run loads it exactly like a downloaded checkpoint (and a resumed run
    finds the same initial weights).
    """
    try:  # "pretrained:<name>": a model this package ships, loaded like a local folder
        model_name_or_path = resolve_pretrained(model_name_or_path)
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    preset = preset_name(model_name_or_path)
    if preset is not None:
        folder = RunFolder(output_dir).preset(preset)
        if not folder.is_dir():  # saved aside and renamed into place: a kill during the save leaves no half preset
            staging = folder.with_name(f"{folder.name}.tmp")
            shutil.rmtree(staging, ignore_errors=True)
            save_preset(preset, staging, seed=seed, spec=spec)
            staging.rename(folder)
        return str(folder)
    try:  # a mistyped local path fails now, not after minutes of Hub retries
        model_name_or_path = local_or_hub(model_name_or_path, "--model_name_or_path")
    except FileNotFoundError as err:
        raise CheckpointError(str(err)) from None
    folder = Path(model_name_or_path)
    if folder.is_dir():
        if problem := missing_weights(folder):
            raise CheckpointError(f"checkpoint {problem}")
        unreadable = unreadable_files(folder)
        if unreadable:
            raise CheckpointError(f"checkpoint {folder}: {unreadable}")
        missing = missing_processor_parts(folder)
        if missing:
            parts = ", no ".join(f"{what} (none of {', '.join(names)})" for what, names in missing.items())
            raise CheckpointError(
                f"checkpoint {folder} has no {parts}; save the processor with "
                "processor.save_pretrained(folder) or train from a checkpoint that has one"
            )
    return model_name_or_path


def load_model_and_processor(
    checkpoint: str,
    label_smoothing: float | None = None,
    cache_dir: str | None = None,
    caption_column: str = "text",
    attn_implementation: str = "eager",
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Model and processor of ``checkpoint`` (its family's classes); ``loc_text`` captions get their tokens (and
    embeddings) added."""
    try:
        family = family_for_checkpoint(checkpoint, cache_dir=cache_dir)
        model, processor = family.load(checkpoint, cache_dir=cache_dir)
    except HFValidationError as err:
        raise CheckpointError(f"--model_name_or_path {checkpoint}: no such folder, and not a Hub id ({err})") from None
    except OSError as err:
        raise CheckpointError(f"cannot load checkpoint {checkpoint!r}: {err}") from None
    except ValueError as err:  # a model type no family loads
        raise CheckpointError(str(err)) from None
    if label_smoothing is not None:
        set_label_smoothing(model, label_smoothing)
    column = CAPTION_COLUMNS.get(caption_column)  # an unknown column is refused by the data checks, naming the split
    if column is not None and column.format is LOC:
        add_loc_tokens(model, processor.tokenizer)
    set_attention(model, attn_implementation)
    return model, processor


def set_label_smoothing(model: PreTrainedModel, value: float) -> None:
    """Set the caption loss's label smoothing where the loss reads it (the family knows where: BLIP's decoder copies
    the config's value into an attribute at init), and in the config so the saved checkpoint records the value."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {value}")
    family_for_config(model.config).set_label_smoothing(model, value)


def unreadable_files(folder: Path) -> str | None:
    """What in a model folder cannot be read: a JSON file that does not parse, a cut or corrupt safetensors file.

    Checked before ``from_pretrained`` and the Trainer's resume, whose errors (``JSONDecodeError``,
    ``SafetensorError``) do not say which file they are about. Safetensors files are checked by their header, which
    must cover the whole file, so a truncated copy is caught without reading the weights.
    """
    for path in sorted(folder.glob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return f"{path.name} is not valid JSON ({err})"
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="numpy"):
                pass
        except (SafetensorError, OSError) as err:
            return f"{path.name} is truncated or corrupt ({err})"
    return None


def incomplete(checkpoint: Path) -> str | None:
    """Why a Trainer checkpoint folder cannot be resumed from, or None.

    The Trainer writes ``trainer_state.json`` after the weights, optimizer and RNG states, so a checkpoint cut short
    by a kill lacks it or holds it half-written.
    """
    if not (checkpoint / TRAINER_STATE_NAME).is_file():
        return f"no {TRAINER_STATE_NAME}"
    if not any((checkpoint / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
        return "no model weights"
    return unreadable_files(checkpoint)


def resume_checkpoint(resume: str | None, output_dir: str | Path) -> ResumePoint | None:
    """``--resume_from_checkpoint`` as a folder to resume from: ``last`` is the newest complete checkpoint (None: a run
    killed before its first one starts again).

    A folder given by path must be complete. For ``last``, the folder is first put back as the killed run would have
    left it at that checkpoint: newer incomplete checkpoints (a save cut short; the resumed run redoes their steps) are
    deleted with a warning naming each, and the checkpoint rotation that the save started is finished (a kill during it
    leaves a half-deleted older checkpoint). Either way the killed run's ``all_results.json`` is removed: the Trainer
    merges each ``save_metrics`` into that file, which would read back a half-written or stale one.
    """
    if resume is None:
        return None
    if resume not in ("last", "true", "True"):
        folder = Path(resume)
        problem = incomplete(folder) if folder.is_dir() else "no such folder"
        if problem:
            raise CheckpointError(f"--resume_from_checkpoint {resume}: {problem}")
        RunFolder(output_dir).results.unlink(missing_ok=True)
        return ResumePoint(folder, TrainerState.load_from_json(str(folder / TRAINER_STATE_NAME)).global_step)
    pattern = f"{CHECKPOINT_PREFIX}*"
    skipped: dict[Path, str] = {}
    for folder in reversed(RunFolder(output_dir).checkpoints()):
        problem = incomplete(folder)
        if problem is not None:
            skipped[folder] = f"{folder.name} (incomplete: {problem})"
            continue
        if skipped:
            logger.warning(
                "--resume_from_checkpoint last: resuming from %s, deleting %s", folder, "; ".join(skipped.values())
            )
            for newer in skipped:
                shutil.rmtree(newer, ignore_errors=True)  # ignore: another process of the run may delete it first
        state = TrainerState.load_from_json(str(folder / TRAINER_STATE_NAME))
        _finish_rotation(folder, state)
        RunFolder(output_dir).results.unlink(missing_ok=True)
        return ResumePoint(folder, state.global_step)
    found = f"; skipped {'; '.join(skipped.values())}" if skipped else ""
    if _before_first_checkpoint(Path(output_dir)):
        logger.warning(
            "--resume_from_checkpoint last: no complete checkpoint in %s yet, training from step 0%s", output_dir, found
        )
        for newer in skipped:
            shutil.rmtree(newer, ignore_errors=True)
        return None
    raise CheckpointError(f"--resume_from_checkpoint last: no complete {pattern} folder in {output_dir}{found}")


def _before_first_checkpoint(output_dir: Path) -> bool:
    """Whether ``output_dir`` holds no more than a run writes before its first checkpoint is complete (so continuing
    it is starting it): its cached inputs, TensorBoard logs, predictions of evaluations and checkpoints cut short."""
    written = (*CACHED_INPUTS, TENSORBOARD_DIR, PREDICTIONS_DIR, f"{CHECKPOINT_PREFIX}*")
    return not output_dir.is_dir() or all(any(p.match(name) for name in written) for p in output_dir.iterdir())


def _finish_rotation(checkpoint: Path, state: TrainerState) -> None:
    """The rotation the Trainer ran right after saving ``checkpoint``, with that run's limit and best checkpoint.

    Run again it deletes what a kill left of an older checkpoint, and nothing after a rotation that had finished. By
    step number: a half-deleted folder's modification time is the kill's, which the Trainer's default order would take
    for the newest checkpoint.
    """
    limit = read_json(RunFolder(checkpoint).training_args).get("save_total_limit")
    if isinstance(limit, int):
        rotate_checkpoints(str(checkpoint.parent), limit, state.best_model_checkpoint, use_mtime=False)
