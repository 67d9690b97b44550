"""The columns of ``mpii_pose_caption`` and their ``datasets`` feature types (the trainer and predictor read these).

Coordinates in ``joint_points`` and ``head_box`` are in the processed image (the stored ``image``);
``person_center``/``person_scale`` are MPII's values in the original image. All are 0-based pixels (MPII's
1-based values minus 1; see :mod:`blip_pose.geometry`). A processed point maps back with
``original = processed / (scale_x, scale_y) + crop_box[:2]`` (see :class:`blip_pose.geometry.BoxTransform`).
Missing floats are NaN, a missing video index is -1 and missing text is "".
"""

from __future__ import annotations

import datasets

from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import CAPTION_COLUMNS

_F32 = datasets.Value("float32")
_I32 = datasets.Value("int32")
_STR = datasets.Value("string")

FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "image_name": _STR,
        "joint_points": datasets.Sequence(datasets.Sequence(_F32, length=3), length=MPII16.num_keypoints),
        **{column: _STR for column in CAPTION_COLUMNS},
        "width": _I32,
        "height": _I32,
        "original_width": _I32,
        "original_height": _I32,
        "scale_x": _F32,
        "scale_y": _F32,
        "crop_box": datasets.Sequence(_F32, length=4),
        "head_box": datasets.Sequence(_F32, length=4),
        "person_center": datasets.Sequence(_F32, length=2),
        "person_scale": _F32,
        "mpii_index": _I32,
        "person_index": _I32,
        "video_index": _I32,
        "frame_sec": _F32,
        "activity": _STR,
        "category": _STR,
    }
)

#: One line per column for the dataset card.
COLUMN_DOCS: dict[str, str] = {
    "image": "the processed image (JPEG bytes), the model's input",
    "image_name": "MPII file name, e.g. `015601864.jpg`",
    "joint_points": "16 × [x, y, visible] in the processed image, official MPII joint order (visible: 1 / 0; an "
    "empty is_visible is 1)",
    "text": "all 16 joints in pixels of the processed image: `rankl:123,356 rknee:130,301 …`",
    "simple_text": "the configured joint subset (default `upper_neck`) in pixels",
    "visibility_text": "`rankl:1 rknee:0 …` (1 visible, 0 occluded)",
    "simple_visibility_text": "visibility of the joint subset",
    "normalized_text": "all 16 joints as x/width, y/height with 3 decimals",
    "normalized_simple_text": "the joint subset, normalized",
    "loc_text": "all 16 joints as 32 <locN> tokens (x, y per joint; bins of 1/384 of the image), for added tokens",
    "width": "processed image width (int32)",
    "height": "processed image height (int32)",
    "original_width": "original image width (int32)",
    "original_height": "original image height (int32)",
    "scale_x": "processed = (original - crop_box[:2]) * scale",
    "scale_y": "as scale_x, vertical",
    "crop_box": "x0, y0, x1, y1 of the original image mapped onto the processed one; (0, 0, W, H) for resize",
    "head_box": "MPII head rectangle x1, y1, x2, y2 in the processed frame (PCKh head size = 0.6 × diagonal)",
    "person_center": "MPII objpos (x, y), 0-based original pixels (the file's value - 1); NaN when missing",
    "person_scale": "MPII scale (person height / 200 px); NaN when missing",
    "mpii_index": "0-based index of the image in RELEASE.annolist",
    "person_index": "0-based index of the person in annorect",
    "video_index": "MPII vididx as in the file (1-based into video_list); -1 when missing",
    "frame_sec": "time of the frame in its video; NaN when missing",
    "activity": "MPII act_name; empty when missing",
    "category": "MPII cat_name; empty when missing",
}
