"""Keypoint sets: the :class:`KeypointSpec` value and the registry of named sets (MPII-16 the default).

Adding a set is one module defining a ``KeypointSpec`` and one :func:`register` call (a line in
:data:`_BUILT_IN` for the project's own sets; user code may call ``register`` itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blip_pose.keypoints.coco import COCO17
from blip_pose.keypoints.mpii import MPII16
from blip_pose.keypoints.spec import KEYPOINTS_CARD_KEY, KEYPOINTS_FILE, KeypointSpec

__all__ = [
    "DEFAULT_SPEC",
    "KEYPOINTS_CARD_KEY",
    "KEYPOINTS_FILE",
    "KeypointSpec",
    "get_spec",
    "register",
    "resolve_spec",
]

DEFAULT_SPEC = MPII16
_REGISTRY: dict[str, KeypointSpec] = {}


def register(spec: KeypointSpec, replace: bool = False) -> KeypointSpec:
    """Make ``spec`` known by its name (``--keypoints NAME``, the evaluate module's ``keypoints="NAME"``)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] != spec and not replace:
        raise ValueError(f"another keypoint set is registered as {spec.name!r}")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> KeypointSpec:
    if name not in _REGISTRY:
        raise ValueError(f"unknown keypoint set {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def resolve_spec(value: KeypointSpec | str | Mapping[str, Any] | None) -> KeypointSpec:
    """A spec from a spec, a registered name, its JSON mapping, or None (the default, MPII-16)."""
    if value is None:
        return DEFAULT_SPEC
    if isinstance(value, KeypointSpec):
        return value
    if isinstance(value, str):
        return get_spec(value)
    return KeypointSpec.from_dict(value)


_BUILT_IN = (MPII16, COCO17)
for _spec in _BUILT_IN:
    register(_spec)
