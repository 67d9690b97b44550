"""BLIP pose captions: human pose estimation as image captioning.

``from blip_pose import PosePredictor`` loads torch and transformers only when the name is first used, so that
``import blip_pose`` (and the light modules: pose_format, geometry, images) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["PosePrediction", "PosePredictor"]

if TYPE_CHECKING:
    from blip_pose.predictor import PosePrediction, PosePredictor


def __getattr__(name: str) -> Any:
    if name in __all__:
        from blip_pose import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'blip_pose' has no attribute {name!r}")
