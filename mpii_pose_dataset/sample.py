"""Paths of the bundled synthetic MPII-format sample (made by :mod:`mpii_pose_dataset.sample_generator`).

The layout mirrors the real release: the annotation file next to an ``images/`` folder.
"""

from pathlib import Path

from blip_pose.run_record import SAMPLE_DATASET_FOLDER, SAMPLE_DATASET_NAME
from mpii_pose_dataset.download import ANNOTATION_FILE

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_MAT = SAMPLE_DIR / ANNOTATION_FILE
SAMPLE_IMAGES = SAMPLE_DIR / "images"


def resolve_dataset(name: str, config_name: str | None, work_dir: str | Path) -> str:
    """``sample`` -> the bundled sample built into ``<work_dir>/sample-dataset`` (offline, ~1 s, reused once
    built); any other name (a Hub id or a built folder) unchanged."""
    if name != SAMPLE_DATASET_NAME or Path(name).exists():
        return name
    from mpii_pose_dataset.builder import MpiiPoseCaption
    from mpii_pose_dataset.export import REPORTS_DIR, build

    folder = Path(work_dir) / SAMPLE_DATASET_FOLDER
    config = config_name or MpiiPoseCaption.DEFAULT_CONFIG_NAME
    if not (folder / REPORTS_DIR / f"{config}.json").is_file():
        build(folder, data_dir=SAMPLE_DIR, configs=[config])
    return str(folder)
