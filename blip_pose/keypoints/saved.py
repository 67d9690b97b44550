"""Where a keypoint set is stored: beside a saved model (``keypoints.json``) and in a dataset card's YAML.

Both readers fall back to MPII-16, so models and datasets made before keypoint sets were recorded keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from blip_pose.keypoints import DEFAULT_SPEC, KEYPOINTS_CARD_KEY, KEYPOINTS_FILE, KeypointSpec, resolve_spec


def spec_beside(directory: str | Path) -> KeypointSpec:
    """The keypoint set saved in ``directory`` (a model or run folder); MPII-16 where it has no ``keypoints.json``."""
    if not (Path(directory) / KEYPOINTS_FILE).is_file():
        return DEFAULT_SPEC
    return KeypointSpec.load(directory)


def card_spec(value: str | Mapping[str, Any] | None, where: str = "dataset card") -> KeypointSpec:
    """The keypoint set a dataset card's YAML records under ``pose_keypoints`` for a config (a registered name or
    a spec mapping); MPII-16 where the card has none. ``where`` names the card in errors."""
    if value is None:
        return DEFAULT_SPEC
    if not isinstance(value, (str, Mapping)):
        raise ValueError(f"{where}: {KEYPOINTS_CARD_KEY} must be a keypoint set name or mapping, got {value!r}")
    try:
        return resolve_spec(value)
    except ValueError as err:
        raise ValueError(f"{where}: {KEYPOINTS_CARD_KEY}: {err}") from None
