"""The predictor of a heatmap model: :class:`~blip_pose.predictor.PosePredictor`'s images, preprocessing and
original-pixel joints, with heatmaps decoded (transformers' ``post_process_pose_estimation``, flip test) where a
captioner generates and parses captions.

The model was trained on the dataset's processed frames, each one person whose box is the whole frame, so each
processed frame is cropped by its whole-frame box; :meth:`PosePredictor.predict_images` maps the joints back to the
image's own pixels with the training transform, as a captioner's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedModel

from blip_pose.geometry import Preprocessing
from blip_pose.heatmap.trainer import decode, flip_back
from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.predictor import PosePredictor


class HeatmapPredictor(PosePredictor):
    """Joints of one person per image from a heatmap model (``PosePrediction.caption`` is empty: it writes none)."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: Any,
        preprocessing: Preprocessing,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        spec: KeypointSpec = DEFAULT_SPEC,
        flip_test: bool = True,
    ) -> None:
        self.spec, self.caption_column, self.flip_test = spec, "text", flip_test  # every joint, as ``text``
        self.constrained, self._grammar = False, None
        self._set_model(model, processor, preprocessing, device, dtype)
        self.source = "the model"

    def generate(self, frames: list[Image.Image]) -> list[str]:
        raise NotImplementedError(f"{self.source} is a heatmap model: it writes no captions")

    @torch.inference_mode()
    def frame_joints(self, frames: list[Image.Image]) -> tuple[list[str], np.ndarray, np.ndarray]:
        boxes = np.array([[0.0, 0.0, frame.width, frame.height] for frame in frames], dtype=np.float64).reshape(-1, 4)
        pixels = self.processor.preprocess(frames, boxes=[[box] for box in boxes], return_tensors="pt")["pixel_values"]
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        heatmaps = self.model(pixel_values=pixels).heatmaps
        if self.flip_test:
            flipped = self.model(pixel_values=pixels.flip(-1)).heatmaps
            heatmaps = 0.5 * (heatmaps + flip_back(flipped, self.spec.flip_index))
        xy, _ = decode(self.processor, heatmaps, boxes)
        xy = xy.astype(np.float64)
        return [""] * len(frames), xy, np.isfinite(xy).all(-1)
