"""Gaussian target heatmaps and the weighted heatmap MSE loss, in mmpose's conventions.

Encoding (a decision): sigma 2 on 64x48 heatmaps for a 256x192 input, as mmpose's ``MSRAHeatmap`` configs, but with
UDP's geometry and unbiased (sub-pixel) centres, i.e. mmpose's ``UDPHeatmap`` / ``generate_udp_gaussian_heatmaps``:

* input pixel ``x`` maps to heatmap ``x * (W_hm - 1) / (W_in - 1)`` (the first and last pixel centres line up), not
  MSRA's ``x / stride``. transformers' ``VitPoseImageProcessor`` crops and decodes with exactly this geometry
  (``get_warp_matrix`` and ``transform_preds`` divide by ``size - 1``), as ViTPose was trained; MSRA's ``/ 4`` would
  put a keypoint at the right edge 0.75 heatmap px (3 input px) off after decoding.
* the Gaussian's peak sits at the exact sub-pixel location (no rounding), cut to the ``2 * 3 sigma + 1`` window
  around the nearest pixel, and its peak value is 1 (unnormalised).
* a keypoint's weight is 0 when it is unlabelled (visibility 0 or a non-finite coordinate) or when that whole
  window lies outside the heatmap (mmpose's test: a keypoint just outside still gets its visible tail).
"""

from __future__ import annotations

import numpy as np
import torch

#: Model input (height, width) in pixels, mmpose's and ViTPose's top-down default.
INPUT_SIZE: tuple[int, int] = (256, 192)
#: Heatmap (height, width): a quarter of the input.
HEATMAP_SIZE: tuple[int, int] = (64, 48)
#: Gaussian standard deviation in heatmap pixels at :data:`HEATMAP_SIZE`.
SIGMA = 2.0


def input_to_heatmap(
    keypoints: np.ndarray, input_size: tuple[int, int] = INPUT_SIZE, heatmap_size: tuple[int, int] = HEATMAP_SIZE
) -> np.ndarray:
    """UDP's map from input pixels to heatmap pixels.

    Args:
        keypoints: float (..., 2) as x, y in input pixels.
        input_size, heatmap_size: (height, width).
    Returns:
        float (..., 2) in heatmap pixels.
    """
    (in_h, in_w), (hm_h, hm_w) = input_size, heatmap_size
    factor = np.array([(hm_w - 1) / (in_w - 1), (hm_h - 1) / (in_h - 1)])
    return np.asarray(keypoints, dtype=np.float64) * factor


def gaussian_targets(
    keypoints: np.ndarray,
    visibility: np.ndarray,
    input_size: tuple[int, int] = INPUT_SIZE,
    heatmap_size: tuple[int, int] = HEATMAP_SIZE,
    sigma: float = SIGMA,
) -> tuple[np.ndarray, np.ndarray]:
    """Target heatmaps and per-keypoint weights for a batch of persons (one person per row).

    Args:
        keypoints: float (N, K, 2) as x, y in input pixels (0-based; NaN where unlabelled).
        visibility: (N, K), > 0.5 where the keypoint is labelled (MPII's ``joints_vis``).
        input_size, heatmap_size: (height, width).
        sigma: Gaussian standard deviation in heatmap pixels.
    Returns:
        heatmaps float32 (N, K, H, W) with peak 1 at each weighted keypoint, zero elsewhere;
        weights float32 (N, K), 1 where the keypoint trains the model, 0 where it does not.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visibility = np.asarray(visibility)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2 or visibility.shape != keypoints.shape[:2]:
        raise ValueError(
            f"keypoints must be (N, K, 2) and visibility (N, K); got {keypoints.shape}, {visibility.shape}"
        )
    hm_h, hm_w = heatmap_size
    mu = input_to_heatmap(keypoints, input_size, heatmap_size)  # (N, K, 2)
    labelled = (visibility > 0.5) & np.isfinite(mu).all(-1)
    mu = np.where(labelled[..., None], mu, 0.0)
    centre = np.floor(mu + 0.5)  # the window's pixel, as mmpose's (mu + 0.5).astype(int)
    radius = 3 * sigma
    left_top, right_bottom = centre - radius, centre + radius + 1
    inside = (left_top[..., 0] < hm_w) & (left_top[..., 1] < hm_h) & (right_bottom[..., 0] >= 0)
    inside &= right_bottom[..., 1] >= 0
    weights = (labelled & inside).astype(np.float32)

    xs, ys = np.arange(hm_w, dtype=np.float64), np.arange(hm_h, dtype=np.float64)
    # separable: exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2), each cut to the window
    gx = np.exp(-((xs - mu[..., :1]) ** 2) / (2 * sigma**2)) * (np.abs(xs - centre[..., :1]) <= radius)
    gy = np.exp(-((ys - mu[..., 1:]) ** 2) / (2 * sigma**2)) * (np.abs(ys - centre[..., 1:]) <= radius)
    heatmaps = gy[..., :, None] * gx[..., None, :] * weights[..., None, None]
    return heatmaps.astype(np.float32), weights


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mmpose 1.x ``KeypointMSELoss(use_target_weight=True)``: ``mean(weight * (pred - target) ** 2)`` over all
    N x K x H x W elements (weight broadcast over each heatmap), so a zero-weight keypoint adds nothing but still
    counts in the mean's denominator.

    mmpose 0.x's ``JointsMSELoss`` multiplied pred and target by the weight before the MSE and halved the result:
    for 0/1 weights that is exactly half of this value.

    Args:
        pred, target: float (N, K, H, W).
        weight: float (N, K).
    Returns:
        a scalar tensor.
    """
    if pred.shape != target.shape or weight.shape != pred.shape[:2]:
        shapes = f"pred {tuple(pred.shape)}, target {tuple(target.shape)}, weight {tuple(weight.shape)}"
        raise ValueError(f"heatmap_loss: {shapes} do not match as (N, K, H, W) and (N, K)")
    return (weight[..., None, None].to(pred.dtype) * (pred - target.to(pred.dtype)) ** 2).mean()
