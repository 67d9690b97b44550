"""Pose captioners the project trains itself and ships inside the package: ``pretrained:<name>``.

    make pretrain-tiny                                   # trains outputs/pretrain-tiny, then ships it:
    python -m blip_pose.pretrained outputs/pretrain-tiny tiny-pose --command "make pretrain-tiny"

A shipped model is a folder ``blip_pose/pretrained/<name>/`` holding what ``from_pretrained`` and the predictor read
(config, safetensors weights, processor, ``preprocessing.json``, ``run_config.json``, the scores) and a model card
whose provenance section says how it was made: command, seeds, data, scores, training time. Offline and with no
Hub, it is what a fine-tuning run starts from (``--model_name_or_path pretrained:tiny-pose``).

This module is what loading needs; shipping, which renders a card, is :mod:`blip_pose.pretrained.ship`. The card
knows the ``pretrained:`` prefix from :mod:`blip_pose.checkpoint`, so it and this package import each other in no
circle.
"""

from __future__ import annotations

from pathlib import Path

from blip_pose.checkpoint import PRETRAINED_PREFIX

PRETRAINED_DIR = Path(__file__).resolve().parent


def shipped_models() -> list[str]:
    """Names of the models shipped in this package."""
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def resolve_pretrained(model_name_or_path: str) -> str:
    """``"pretrained:tiny-pose"`` -> the shipped folder's path; anything else unchanged.

    Raises:
        ValueError: the prefix names no shipped model (the message lists those there are).
    """
    if not model_name_or_path.startswith(PRETRAINED_PREFIX):
        return model_name_or_path
    name = model_name_or_path.removeprefix(PRETRAINED_PREFIX)
    if name not in shipped_models():
        known = ", ".join(PRETRAINED_PREFIX + n for n in shipped_models()) or "none"
        raise ValueError(f"no shipped model {model_name_or_path!r}; shipped: {known}")
    return str(PRETRAINED_DIR / name)
