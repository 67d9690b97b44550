"""Reading a saved model for inference, from a local folder or a Hub repo: its optional records (``keypoints.json``,
``preprocessing.json``, ``run_config.json``) and its model, safetensors weights only, each bad file named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huggingface_hub import errors as hub_errors
from huggingface_hub import hf_hub_download
from transformers import PreTrainedModel
from transformers.processing_utils import ProcessorMixin

from blip_pose.checkpoint import missing_weights
from blip_pose.generation import nonfinite_tensor
from blip_pose.models import family_for_checkpoint

# "Not in the repo" is EntryNotFoundError in older huggingface_hub and RemoteEntryNotFoundError in newer ones.
_MISSING_ENTRY = tuple(
    getattr(hub_errors, name)
    for name in ("EntryNotFoundError", "RemoteEntryNotFoundError")
    if hasattr(hub_errors, name)
)


def optional_file(model_id: str, filename: str, **hub_kwargs: Any) -> Path | None:
    """``filename`` of a local folder or Hub repo; None when the model has no such file."""
    if Path(model_id).is_dir():
        path = Path(model_id) / filename
        return path if path.is_file() else None
    try:
        return Path(hf_hub_download(model_id, filename, **hub_kwargs))
    except _MISSING_ENTRY:  # includes LocalEntryNotFoundError: offline and not in the cached snapshot
        return None


def load_model_files(model_id: str, hub: dict[str, Any]) -> tuple[ProcessorMixin, PreTrainedModel]:
    """Processor and safetensors weights (never a pickle); a corrupt file of a local folder is a ValueError naming
    it (not a library trace), and so are weights holding NaN or inf (they would predict every joint at (0, 0))."""
    from safetensors import SafetensorError

    if Path(model_id).is_dir() and (problem := missing_weights(model_id)):
        raise ValueError(problem)
    try:
        model, processor = family_for_checkpoint(model_id, **hub).load(model_id, safetensors_only=True, **hub)
    except (OSError, SafetensorError, json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
        folder = Path(model_id)
        if folder.is_dir():
            bad = _first_unreadable(folder)
            if bad is not None:
                raise ValueError(f"{bad}: {err}".splitlines()[0]) from None
        raise ValueError(f"{model_id}: cannot load the model ({str(err).splitlines()[0]})") from None
    broken = nonfinite_tensor(model)
    if broken is not None:
        raise ValueError(f"{model_id}: weight {broken} holds NaN or inf; the model cannot predict (corrupt weights?)")
    return processor, model


def _first_unreadable(folder: Path) -> Path | None:
    """The first JSON file that does not parse or weights file whose header does not, in a model folder."""
    from safetensors import SafetensorError, safe_open

    for path in sorted(folder.glob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return path
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), "pt") as weights:
                for key in weights.keys():
                    weights.get_slice(key)
        except (SafetensorError, OSError):
            return path
    return None
