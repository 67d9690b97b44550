"""Paths of the bundled synthetic MPII-format sample (made by :mod:`mpii_pose_dataset.sample_generator`).

The layout mirrors the real release: the annotation file next to an ``images/`` folder.
"""

from pathlib import Path

from mpii_pose_dataset.download import ANNOTATION_FILE

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_MAT = SAMPLE_DIR / ANNOTATION_FILE
SAMPLE_IMAGES = SAMPLE_DIR / "images"
#: The ``--dataset_name`` that makes the trainer build this sample on the fly (and the card say it is synthetic).
SAMPLE_DATASET_NAME = "sample"
