"""The heatmap baseline's family (issue 25): transformers' ``VitPoseForPoseEstimation`` and its image processor.

It writes no captions, so it answers only the part of the protocol every family shares (:class:`ModelFamily`:
names, kind, loading) and builds its random-init preset for a dataset's keypoint set (``num_labels`` = K), which a
captioner's vocabulary-first presets cannot do. Training and decoding are :mod:`blip_pose.heatmap`'s.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import VitPoseForPoseEstimation, VitPoseImageProcessorPil

from blip_pose.heatmap.tiny import tiny_vitpose, vitpose_processor
from blip_pose.keypoints import KeypointSpec
from blip_pose.models.base import ModelFamily


class HeatmapFamily(ModelFamily):
    """ViTPose top-down heatmaps: one person box in, K heatmaps out (decoded by the image processor)."""

    name = "vitpose"
    model_types: tuple[str, ...] = ("vitpose",)
    kind = "heatmap"

    def load(
        self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any
    ) -> tuple[VitPoseForPoseEstimation, VitPoseImageProcessorPil]:
        hub = {key: value for key, value in hub.items() if value is not None}
        processor = VitPoseImageProcessorPil.from_pretrained(checkpoint, **hub)
        model = VitPoseForPoseEstimation.from_pretrained(
            checkpoint, use_safetensors=True if safetensors_only else None, **hub
        )
        return model, processor

    def build_preset(
        self, spec: KeypointSpec, seed: int = 0
    ) -> tuple[VitPoseForPoseEstimation, VitPoseImageProcessorPil]:
        """The tiny random-init ViTPose (:mod:`blip_pose.heatmap.tiny`) with one heatmap per keypoint of ``spec``."""
        torch.manual_seed(seed)
        return tiny_vitpose(spec), vitpose_processor()


FAMILY = HeatmapFamily()
