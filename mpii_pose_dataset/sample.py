"""Paths of the bundled synthetic MPII-format sample (made by :mod:`mpii_pose_dataset.sample_generator`), and the
offline dataset names a training config may give (``sample``, ``synthetic``).

The layout mirrors the real release: the annotation file next to an ``images/`` folder.
"""

from pathlib import Path

from blip_pose.dataset_source import check_synthetic_frames
from blip_pose.run_folder import RunFolder
from blip_pose.run_record import SAMPLE_DATASET_NAME, SYNTHETIC_DATASET_NAME
from mpii_pose_dataset.download import ANNOTATION_FILE

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_MAT = SAMPLE_DIR / ANNOTATION_FILE
SAMPLE_IMAGES = SAMPLE_DIR / "images"
#: ``synthetic`` builds ``video_split`` unless told otherwise: split by video, no figure on both sides.
SYNTHETIC_DEFAULT_CONFIG = "video_split"
#: From this many frames on, the build decodes images in two worker processes (below, start-up costs more).
_PARALLEL_FROM = 2000


def resolve_dataset(
    name: str, config_name: str | None, work_dir: str | Path, synthetic_size: int = 0, synthetic_seed: int = 0
) -> str:
    """A name or folder that ``load_dataset`` reads; built offline (and reused once built) for two names:

    * ``sample`` -> the bundled sample built into ``<work_dir>/sample-dataset`` (~1 s);
    * ``synthetic`` -> ``synthetic_size`` procedural frames from ``synthetic_seed`` built into
      ``<work_dir>/synthetic-<config>-n<size>-seed<seed>`` (a folder per size, seed and config, so a changed
      setting never reads a stale build).

    Any other name (a Hub id or a built folder) and an existing folder of that name come back unchanged.
    """
    if name not in (SAMPLE_DATASET_NAME, SYNTHETIC_DATASET_NAME) or Path(name).exists():
        return name
    from mpii_pose_dataset.builder import MpiiPoseCaption
    from mpii_pose_dataset.export import REPORTS_DIR, build
    from mpii_pose_dataset.synthetic import build_synthetic

    if name == SAMPLE_DATASET_NAME:
        config = config_name or MpiiPoseCaption.DEFAULT_CONFIG_NAME
        folder = RunFolder(work_dir).sample_dataset
        if not (folder / REPORTS_DIR / f"{config}.json").is_file():
            build(folder, data_dir=SAMPLE_DIR, configs=[config])
        return str(folder)
    check_synthetic_frames(synthetic_size, "synthetic_size")
    config = config_name or SYNTHETIC_DEFAULT_CONFIG
    folder = RunFolder(work_dir).synthetic_dataset(config, synthetic_size, synthetic_seed)
    if not (folder / REPORTS_DIR / f"{config}.json").is_file():  # the report is written last: a build finished
        num_proc = 2 if synthetic_size >= _PARALLEL_FROM else None
        build_synthetic(folder, synthetic_size, synthetic_seed, config, num_proc=num_proc)
    return str(folder)
