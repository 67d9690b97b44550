"""BLIP pose captions: human pose estimation as image captioning.

``from blip_pose import PosePredictor`` loads torch and transformers only when the name is first used, so that
``import blip_pose`` (and the light modules: pose_format, geometry, images) stays cheap.

The pose metric ships inside the package as an ``evaluate`` module: ``evaluate.load(blip_pose.metric_path())``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__all__ = ["PosePrediction", "PosePredictor", "metric_path"]
_LAZY = ("PosePrediction", "PosePredictor")

if TYPE_CHECKING:
    from blip_pose.predictor import PosePrediction, PosePredictor


def metric_path() -> str:
    """The folder of the ``pose_threshold_accuracy`` evaluate module installed with the package."""
    return str(Path(__file__).resolve().parent / "metric" / "pose_threshold_accuracy")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from blip_pose import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'blip_pose' has no attribute {name!r}")
