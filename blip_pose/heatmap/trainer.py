"""Training and evaluating ``VitPoseForPoseEstimation`` with a ``transformers.Trainer``.

transformers' VitPose has no loss (passing ``labels`` raises), so :class:`HeatmapTrainer` runs the model without
labels and applies :func:`~blip_pose.heatmap.targets.heatmap_loss` to ``outputs.heatmaps``. The crop is the image
processor's (``VitPoseImageProcessorPil``, ``VitPoseImageProcessor``'s backend without torchvision, with COCO
x, y, w, h boxes padded x1.25 to 3:4), and decoding is its own
``post_process_pose_estimation`` (argmax, DARK refinement, back to the original image's pixels), so training targets,
crops and decoded keypoints share one geometry (UDP, see :mod:`blip_pose.heatmap.targets`).

An example (one person) is a mapping with ``image`` (PIL image or H x W x 3 array), ``box`` (x, y, w, h in the
image's 0-based pixels), ``keypoints`` (K x 2, same pixels; NaN where unlabelled) and optionally ``visibility`` (K,
1 labelled / 0 not; default: labelled where finite).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import Trainer, VitPoseImageProcessorPil
from transformers.models.vitpose.image_processing_pil_vitpose import box_to_center_and_scale, get_warp_matrix
from transformers.models.vitpose.modeling_vitpose import VitPoseEstimatorOutput

from blip_pose.heatmap.targets import HEATMAP_SIZE, SIGMA, gaussian_targets, heatmap_loss
from blip_pose.keypoints import KeypointSpec, resolve_spec

#: The batch's targets (no model inputs): the Trainer's ``label_names``.
LABEL_NAMES = ["target_heatmaps", "target_weights", "boxes", "keypoints"]


def input_warp(boxes: np.ndarray, processor: VitPoseImageProcessorPil) -> np.ndarray:
    """The affine maps the processor crops with: original pixels -> input pixels.

    Args:
        boxes: float (N, 4) as COCO x, y, w, h.
    Returns:
        float (N, 2, 3); ``warp[n] @ [x, y, 1]`` is the point in person n's input.
    """
    width, height = processor.size["width"], processor.size["height"]
    warps = []
    for box in boxes:
        center, scale = box_to_center_and_scale(box, image_width=width, image_height=height)
        dst = np.array((width, height), dtype=np.float64) - 1.0
        warps.append(get_warp_matrix(0, center * 2.0, dst, scale * processor.normalize_factor))
    return np.asarray(warps, dtype=np.float64).reshape(-1, 2, 3)


class HeatmapCollator:
    """Examples (see the module docstring) -> a batch: ``pixel_values`` (N, 3, H_in, W_in), ``dataset_index`` (N,),
    ``target_heatmaps`` (N, K, H, W), ``target_weights`` (N, K), ``boxes`` (N, 4) and ``keypoints`` (N, K, 3: x, y
    in original pixels, visibility).

    ``dataset_index`` is the expert index of ViTPose+'s mixture-of-experts backbones (0 for one dataset).
    """

    def __init__(
        self,
        processor: VitPoseImageProcessorPil,
        spec: KeypointSpec | str | None = None,
        heatmap_size: tuple[int, int] = HEATMAP_SIZE,
        sigma: float = SIGMA,
        dataset_index: int = 0,
    ) -> None:
        self.processor, self.spec = processor, resolve_spec(spec)
        self.heatmap_size, self.sigma, self.dataset_index = heatmap_size, sigma, dataset_index

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        k = self.spec.num_keypoints
        boxes = np.array([ex["box"] for ex in examples], dtype=np.float64).reshape(-1, 4)
        keypoints = np.array([ex["keypoints"] for ex in examples], dtype=np.float64)
        if keypoints.shape[1:] != (k, 2):
            raise ValueError(f"keypoints: expected ({k}, 2) per example for {self.spec.name!r}, got {keypoints.shape}")
        visible = np.array([ex.get("visibility", np.isfinite(kp).all(-1)) for ex, kp in zip(examples, keypoints)])
        visible = (visible > 0.5) & np.isfinite(keypoints).all(-1)
        warp = input_warp(boxes, self.processor)
        in_input = np.einsum("nij,nkj->nki", warp[:, :, :2], keypoints) + warp[:, None, :, 2]
        size = (self.processor.size["height"], self.processor.size["width"])
        heatmaps, weights = gaussian_targets(in_input, visible, size, self.heatmap_size, self.sigma)
        images = [ex["image"] for ex in examples]
        pixels = self.processor.preprocess(images, boxes=[[b] for b in boxes], return_tensors="pt")
        return {
            "pixel_values": pixels["pixel_values"],
            "dataset_index": torch.full((len(examples),), self.dataset_index, dtype=torch.long),
            "target_heatmaps": torch.from_numpy(heatmaps),
            "target_weights": torch.from_numpy(weights),
            "boxes": torch.from_numpy(boxes).float(),
            "keypoints": torch.from_numpy(np.concatenate([keypoints, visible[..., None]], -1)).float(),
        }


def flip_back(heatmaps: torch.Tensor, flip_index: Sequence[int] | np.ndarray, shift: bool = False) -> torch.Tensor:
    """Heatmaps of a horizontally flipped input, back in the original's frame: mirror the width, swap left/right
    channels (``KeypointSpec.flip_index``) and, with ``shift``, move one pixel right as mmpose's
    ``flip_heatmaps(shift_heatmap=True)``.

    The shift corrects MSRA's ``x / stride`` geometry, where a flipped column is off by one; with this project's UDP
    targets the mirror is exact, so ViTPose's mmpose configs (and the default here) use ``shift_heatmap=False``.

    Args:
        heatmaps: float (N, K, H, W) predicted from the flipped inputs.
    Returns:
        float (N, K, H, W).
    """
    back = heatmaps.flip(-1)[:, torch.as_tensor(np.asarray(flip_index), device=heatmaps.device)]
    if shift:
        back = torch.cat([back[..., :1], back[..., :-1]], dim=-1)
    return back


def decode(
    processor: VitPoseImageProcessorPil, heatmaps: torch.Tensor, boxes: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in each person's original pixels by transformers' ``post_process_pose_estimation``.

    Args:
        heatmaps: float (N, K, H, W).
        boxes: float (N, 4) COCO x, y, w, h of each person, the boxes the inputs were cropped with.
    Returns:
        keypoints float32 (N, K, 2) and scores float32 (N, K) (the heatmap maxima).
    """
    boxes = np.asarray(boxes.cpu() if isinstance(boxes, torch.Tensor) else boxes, dtype=np.float32).reshape(-1, 4)
    output = VitPoseEstimatorOutput(heatmaps=heatmaps.detach().float().cpu())
    results = processor.post_process_pose_estimation(output, boxes=[[box] for box in boxes])
    keypoints = np.stack([r[0]["keypoints"].numpy() for r in results]).astype(np.float32)
    scores = np.stack([r[0]["scores"].numpy().reshape(-1) for r in results]).astype(np.float32)
    return keypoints, scores


class HeatmapTrainer(Trainer):
    """``Trainer`` for the heatmap baseline; evaluation predictions are decoded keypoints.

    ``prediction_step`` returns ``(loss, predictions (N, K, 3): x, y, score in original pixels, labels (N, K, 3):
    the reference x, y and visibility)``, the shapes ``compute_metrics`` receives.

    Args:
        processor: the image processor the collator crops with (decoding must use the same geometry).
        spec: the keypoint set (its ``flip_index`` for the flip test).
        flip_test: average the heatmaps of each input and of its mirror (:func:`flip_back`).
        flip_shift: the one-pixel shift of mmpose's MSRA models (off for UDP, see :func:`flip_back`).

    ``remove_unused_columns`` is turned off: the collator needs the examples' images, boxes and keypoints, which are
    no arguments of the model's ``forward``.
    """

    def __init__(
        self,
        *args: Any,
        processor: VitPoseImageProcessorPil,
        spec: KeypointSpec | str | None = None,
        flip_test: bool = False,
        flip_shift: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.args.remove_unused_columns = False
        self.processor, self.spec = processor, resolve_spec(spec)
        self.flip_test, self.flip_shift = flip_test, flip_shift
        self.label_names = list(LABEL_NAMES)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        outputs = model(pixel_values=inputs["pixel_values"], dataset_index=inputs.get("dataset_index"))
        loss = heatmap_loss(outputs.heatmaps, inputs["target_heatmaps"], inputs["target_weights"])
        return (loss, outputs) if return_outputs else loss

    def prediction_step(
        self,
        model: Any,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
            loss = loss.detach()
            if prediction_loss_only:
                return loss, None, None
            heatmaps = outputs.heatmaps
            if self.flip_test:
                flipped = model(pixel_values=inputs["pixel_values"].flip(-1), dataset_index=inputs.get("dataset_index"))
                heatmaps = 0.5 * (heatmaps + flip_back(flipped.heatmaps, self.spec.flip_index, self.flip_shift))
        keypoints, scores = decode(self.processor, heatmaps, inputs["boxes"])
        predictions = torch.from_numpy(np.concatenate([keypoints, scores[..., None]], -1)).to(heatmaps.device)
        return loss, predictions, inputs["keypoints"]
