"""What the predictor runs for a heatmap model: processed frames in, joints in the frames' pixels out, by
transformers' ``post_process_pose_estimation`` with a flip test (``blip_pose.predictor.HeatmapPredictor`` calls it
where a captioner generates and parses captions).

The model was trained on the dataset's processed frames, each one person whose box is the whole frame, so each
frame is cropped by its whole-frame box; the predictor maps the joints back to the image's own pixels with the
training transform, as a captioner's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from blip_pose.heatmap.trainer import decode, flip_back


@torch.inference_mode()
def frame_keypoints(
    model: torch.nn.Module,
    processor: Any,
    frames: Sequence[Image.Image],
    flip_index: Sequence[int] | np.ndarray | None,
    device: torch.device,
    dtype: Any,
) -> np.ndarray:
    """float (N, K, 2): each frame's joints in its own pixels (``flip_index`` None: no flip test)."""
    boxes = np.array([[0.0, 0.0, frame.width, frame.height] for frame in frames], dtype=np.float64).reshape(-1, 4)
    pixels = processor.preprocess(list(frames), boxes=[[box] for box in boxes], return_tensors="pt")["pixel_values"]
    pixels = pixels.to(device=device, dtype=dtype)
    heatmaps = model(pixel_values=pixels).heatmaps
    if flip_index is not None:
        heatmaps = 0.5 * (heatmaps + flip_back(model(pixel_values=pixels.flip(-1)).heatmaps, flip_index))
    return decode(processor, heatmaps, boxes)[0].astype(np.float64)
