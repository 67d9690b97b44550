"""Paths of the bundled synthetic MPII-format sample (made by :mod:`mpii_pose_dataset.sample_generator`).

The layout mirrors the real release: the annotation file next to an ``images/`` folder. The offline dataset name
``sample`` builds it (:mod:`mpii_pose_dataset.offline`).
"""

from pathlib import Path

from mpii_pose_dataset.download import ANNOTATION_FILE

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_MAT = SAMPLE_DIR / ANNOTATION_FILE
SAMPLE_IMAGES = SAMPLE_DIR / "images"
