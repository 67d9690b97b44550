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
#: ``pretrained:<name>``: a model this package ships (:func:`blip_pose.pretrained.resolve_pretrained` finds it). Named
#: here among the ways a model is named, so the card knows it without importing the package that ships with cards.
PRETRAINED_PREFIX = "pretrained:"


def missing_processor_parts(folder: str | Path) -> dict[str, tuple[str, ...]]:
    """The processor parts ``folder`` lacks, each with the file names that would provide it."""
    folder = Path(folder)
    return {part: names for part, names in PROCESSOR_PARTS.items() if not any((folder / n).is_file() for n in names)}


def looks_local(name: str) -> bool:
    """Whether a model name is meant as a local path rather than a Hub id (``user/model``).

    Local: it starts with ``.``, ``~`` or a path root, holds a backslash, more than one ``/`` or a trailing one, or
    its first part is a folder here (``outputs/nope`` beside an ``outputs/`` folder). Only a name shaped like a Hub id
    whose owner is no local folder is left to the Hub.
    """
    if name.startswith((".", "~", "/")) or "\\" in name or name.count("/") > 1 or name.endswith("/"):
        return True
    return "/" in name and Path(name.split("/")[0]).is_dir()


def local_or_hub(name: str, what: str = "model") -> str:
    """``name`` ready for ``from_pretrained``: a local folder (``~`` expanded) or a Hub id.

    Raises:
        FileNotFoundError: at once, naming ``what``, when ``name`` looks local and is not a folder (a Hub lookup of
            it would retry for minutes before failing).
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if looks_local(name):
        problem = "is a file, not a model folder" if path.exists() else "no such folder"
        raise FileNotFoundError(f"{what} {name}: {problem}, and not a Hub id (a local path: the Hub is not asked)")
    return name


def missing_weights(folder: str | Path) -> str | None:
    """Why a local model folder has no weights this project loads (None when it has safetensors weights).

    Pickled weights (``pytorch_model.bin``) are never loaded: unpickling runs code, and ``torch.load``'s safe mode
    fails on them with an ``UnpicklingError`` that does not say what to do.
    """
    folder = Path(folder)
    if any((folder / name).is_file() for name in WEIGHT_FILES):
        return None
    pickled = sorted(p.name for p in folder.glob("*.bin"))
    refused = f"; pickled weights ({', '.join(pickled)}) are refused, re-save them as safetensors" if pickled else ""
    return f"{folder} has no safetensors weights ({WEIGHT_FILES[0]}){refused}"
