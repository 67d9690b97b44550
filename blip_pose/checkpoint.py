"""What a saved BLIP pose model folder holds, so training, pushing and predicting check it the same way."""

from __future__ import annotations

from pathlib import Path

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
CONFIG_FILES = ("config.json", "generation_config.json")
#: One file of each group is needed to rebuild the processor (transformers v5 and v4 layouts).
PROCESSOR_PARTS: dict[str, tuple[str, ...]] = {
    "image processor": ("processor_config.json", "preprocessor_config.json"),
    "tokenizer": ("tokenizer.json", "vocab.txt"),
}
#: Every file a processor may save.
PROCESSOR_FILES = (
    *PROCESSOR_PARTS["image processor"],
    *PROCESSOR_PARTS["tokenizer"],
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)


def missing_processor_parts(folder: str | Path) -> dict[str, tuple[str, ...]]:
    """The processor parts ``folder`` lacks, each with the file names that would provide it."""
    folder = Path(folder)
    return {part: names for part, names in PROCESSOR_PARTS.items() if not any((folder / n).is_file() for n in names)}
