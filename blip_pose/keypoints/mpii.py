"""MPII Human Pose's 16 joints, official ids (the annotation file's). The default keypoint set.

The method's write-up prints a table with ids 3<->5 and 9<->11 swapped (:data:`PAPER_TABLE_SWAPS`, documented,
never applied).
"""

from __future__ import annotations

from blip_pose.keypoints.spec import KeypointSpec

_JOINTS = (
    ("right ankle", "rankl"),
    ("right knee", "rknee"),
    ("right hip", "rhip"),
    ("left hip", "lhip"),
    ("left knee", "lknee"),
    ("left ankle", "lankl"),
    ("pelvis", "pelvis"),
    ("thorax", "thorax"),
    ("upper neck", "upper_neck"),
    ("head top", "head"),
    ("right wrist", "rwri"),
    ("right elbow", "relb"),
    ("right shoulder", "rsho"),
    ("left shoulder", "lsho"),
    ("left elbow", "lelb"),
    ("left wrist", "lwri"),
)

MPII16 = KeypointSpec(
    name="mpii16",
    names=tuple(name for name, _ in _JOINTS),
    captions=tuple(caption for _, caption in _JOINTS),
    skeleton=(
        (0, 1),
        (1, 2),
        (2, 6),
        (5, 4),
        (4, 3),
        (3, 6),  # legs
        (6, 7),
        (7, 8),
        (8, 9),  # trunk and head
        (10, 11),
        (11, 12),
        (12, 7),
        (15, 14),
        (14, 13),
        (13, 7),  # arms
    ),  # fmt: skip
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    normalizer="head",
    mean_excluded=(6, 7),  # pelvis and thorax: derived from the hips and shoulders, out of MPII's mean PCKh
    simple_joints=("upper_neck",),
)
#: Id pairs that the method's write-up swaps in its joint table.
PAPER_TABLE_SWAPS: tuple[tuple[int, int], ...] = ((3, 5), (9, 11))
#: MPII's person ``scale`` is the person's height in units of 200 px.
MPII_SCALE_PX = 200.0
