"""An offline stand-in for a pretrained ViTPose: a tiny random-init ``VitPoseForPoseEstimation`` from a config.

The backbone is ViTPose's (16 x 16 patches of the 256 x 192 input, a 16 x 12 grid) made small: 2 layers, hidden
size 64, 2 heads. The head is transformers' simple decoder (ReLU, 4x bilinear upsampling, a 3 x 3 convolution, as
ViTPose's "simple" models) rather than the classic one (two 256-channel deconvolutions): it is the lighter, and
yields the 64 x 48 heatmaps of :mod:`blip_pose.heatmap.targets` directly. ``num_labels`` is the keypoint set's K.
"""

from __future__ import annotations

from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessorPil

from blip_pose.heatmap.targets import HEATMAP_SIZE, INPUT_SIZE
from blip_pose.keypoints import KeypointSpec, resolve_spec

#: ViTPose's patch size.
PATCH_SIZE = 16


def tiny_vitpose_config(
    spec: KeypointSpec | str | None = None, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 2
) -> VitPoseConfig:
    """The tiny preset's config for the keypoint set ``spec`` (default MPII-16); ``id2label`` are its caption tokens."""
    spec = resolve_spec(spec)
    backbone = VitPoseBackboneConfig(
        image_size=list(INPUT_SIZE),
        patch_size=[PATCH_SIZE, PATCH_SIZE],
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        mlp_ratio=2,
    )
    backbone.out_indices = [num_layers]  # the last layer's features feed the head
    scale = HEATMAP_SIZE[0] // (INPUT_SIZE[0] // PATCH_SIZE)
    return VitPoseConfig(
        backbone_config=backbone,
        use_simple_decoder=True,
        scale_factor=scale,
        id2label=dict(enumerate(spec.captions)),
        label2id={c: i for i, c in enumerate(spec.captions)},
    )


def tiny_vitpose(spec: KeypointSpec | str | None = None) -> VitPoseForPoseEstimation:
    """A random-init model from :func:`tiny_vitpose_config` (seed with ``transformers.set_seed`` first)."""
    return VitPoseForPoseEstimation(tiny_vitpose_config(spec))


def vitpose_processor() -> VitPoseImageProcessorPil:
    """ViTPose's image processor at the targets' input size (ImageNet normalisation, affine crop from boxes)."""
    return VitPoseImageProcessorPil(size={"height": INPUT_SIZE[0], "width": INPUT_SIZE[1]})
