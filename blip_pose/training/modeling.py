"""Loading BLIP and its processor: Hub id, local checkpoint, or a named offline preset saved as a checkpoint."""

from __future__ import annotations

from pathlib import Path

from transformers import BlipForConditionalGeneration, BlipProcessor

from blip_pose.checkpoint import missing_processor_parts
from blip_pose.loc_tokens import add_loc_tokens
from blip_pose.pose_format import LOC
from blip_pose.pose_format import caption_column as caption_column_entry
from blip_pose.presets import PRESETS, save_preset
from blip_pose.sdpa import set_attention

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


def resolve_checkpoint(model_name_or_path: str, output_dir: str | Path, seed: int = 0) -> str:
    """A path or Hub id that ``from_pretrained`` can load; a preset is saved to ``<output_dir>/preset-<name>``.

    Saving the preset first means the run loads it exactly like a downloaded checkpoint (and a resumed run
    finds the same initial weights).
    """
    preset = preset_name(model_name_or_path)
    if preset is not None:
        folder = Path(output_dir) / f"preset-{preset}"
        if not (folder / "config.json").is_file():
            save_preset(preset, folder, seed=seed)
        return str(folder)
    folder = Path(model_name_or_path)
    if folder.is_dir():
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
) -> tuple[BlipForConditionalGeneration, BlipProcessor]:
    """Model and processor of ``checkpoint``; ``loc_text`` captions get their tokens (and embeddings) added."""
    try:
        processor = BlipProcessor.from_pretrained(checkpoint, cache_dir=cache_dir)
        model = BlipForConditionalGeneration.from_pretrained(checkpoint, cache_dir=cache_dir)
    except OSError as err:
        raise CheckpointError(f"cannot load BLIP checkpoint {checkpoint!r}: {err}") from None
    if label_smoothing is not None:
        set_label_smoothing(model, label_smoothing)
    if caption_column_entry(caption_column).format is LOC:
        add_loc_tokens(model, processor.tokenizer)
    set_attention(model, attn_implementation)
    return model, processor


def set_label_smoothing(model: BlipForConditionalGeneration, value: float) -> None:
    """Set the caption loss's label smoothing where the loss reads it.

    ``BlipTextLMHeadModel`` copies ``config.label_smoothing`` into an attribute at init, so changing the config
    of a loaded model alone has no effect; the config is set too so the saved checkpoint records the value.
    """
    if not 0.0 <= value < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {value}")
    model.text_decoder.label_smoothing = value
    model.config.text_config.label_smoothing = value  # type: ignore[union-attr]  # typed as a union of config kinds
