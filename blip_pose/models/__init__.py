"""The model families the project can train and run, chosen by a config's ``model_type``.

A saved model's ``config.json`` says which family it is (``"model_type": "blip"``), so a checkpoint folder, a Hub id
and a shipped ``pretrained:`` folder all go through :func:`family_for_checkpoint`; a loaded model through
:func:`family_for_config`. A new family registers itself with :func:`register_family` (the project's own are
registered here, the heatmap baseline ViTPose among them). :func:`family_for_config` and :func:`family_by_name`
answer captioners only (a heatmap model is an error naming its kind); :func:`family_for_checkpoint` and
:func:`model_family_by_name` answer any family (``.kind`` says which).
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from blip_pose.models.base import CaptionerFamily, CrossAttentionSink, DecoderLayout, ModelFamily
from blip_pose.pretrained import resolve_pretrained

_FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    """Make ``family`` the one for each of its ``model_types`` (a later registration replaces an earlier one)."""
    for model_type in family.model_types:
        _FAMILIES[model_type] = family
    return family


def model_family(model_type: str, where: str = "the model") -> ModelFamily:
    """The family of ``model_type``, any kind; a ValueError naming ``where`` and the known types otherwise."""
    family = _FAMILIES.get(model_type)
    if family is None:
        known = ", ".join(sorted(_FAMILIES))
        raise ValueError(f"{where}: model_type {model_type!r} is no family this project knows (known: {known})")
    return family


def family_for_model_type(model_type: str, where: str = "the model") -> CaptionerFamily:
    """The captioner family of ``model_type``; a ValueError naming ``where`` otherwise."""
    return _captioner(model_family(model_type, where), where)


def _captioner(family: ModelFamily, where: str) -> CaptionerFamily:
    if not isinstance(family, CaptionerFamily):
        raise ValueError(f"{where}: {family.name} is a {family.kind} model, it writes no captions")
    return family


def family_for_config(config: PretrainedConfig) -> CaptionerFamily:
    """The family of a loaded model's config."""
    return family_for_model_type(config.model_type)


def family_by_name(name: str) -> CaptionerFamily:
    """The registered captioner family called ``name`` (presets name theirs)."""
    return _captioner(model_family_by_name(name), f"family {name!r}")


def model_family_by_name(name: str) -> ModelFamily:
    """The registered family called ``name``, any kind."""
    for family in _FAMILIES.values():
        if family.name == name:
            return family
    raise ValueError(f"no model family {name!r}; known: {', '.join(sorted({f.name for f in _FAMILIES.values()}))}")


def family_for_checkpoint(path_or_preset: str, **hub: Any) -> ModelFamily:
    """The family (any kind) of ``pretrained:<name>``, a checkpoint folder or a Hub id (its ``config.json``). A preset
    name is not a checkpoint: :func:`blip_pose.presets.preset_family` names its family (presets ask the families to
    build their models, so the registry never asks the presets).

    Raises:
        ValueError: the config names a model type no family loads.
        OSError: no config can be read (no such folder or Hub id, unreadable file).
    """
    checkpoint = resolve_pretrained(path_or_preset)
    config, _ = PretrainedConfig.get_config_dict(checkpoint, **hub)
    return model_family(str(config.get("model_type")), checkpoint)


from blip_pose.models.blip import FAMILY as BLIP  # noqa: E402  (family modules import the base, never this registry)
from blip_pose.models.florence2 import FAMILY as FLORENCE2  # noqa: E402
from blip_pose.models.git import FAMILY as GIT  # noqa: E402
from blip_pose.models.paligemma import FAMILY as PALIGEMMA  # noqa: E402
from blip_pose.models.ved import FAMILY as VED  # noqa: E402
from blip_pose.models.vitpose import FAMILY as VITPOSE  # noqa: E402

register_family(BLIP)
register_family(FLORENCE2)
register_family(GIT)
register_family(PALIGEMMA)
register_family(VED)
register_family(VITPOSE)

__all__ = [
    "BLIP",
    "FLORENCE2",
    "GIT",
    "PALIGEMMA",
    "VED",
    "CaptionerFamily",
    "CrossAttentionSink",
    "DecoderLayout",
    "ModelFamily",
    "VITPOSE",
    "family_by_name",
    "family_for_checkpoint",
    "family_for_config",
    "family_for_model_type",
    "model_family",
    "model_family_by_name",
    "register_family",
]
