"""The offline dataset names a training config may give, built from this package's data: ``sample`` (the bundled
MPII-format sample) and ``synthetic`` (procedural people). Importing this module registers both with
:func:`pose_dataset.registry.register_offline` (it is one of the registry's built-in modules), so the training
scripts ask :func:`pose_dataset.registry.resolve_dataset` and never import this package.
"""

from __future__ import annotations

from pathlib import Path

from blip_pose.dataset_source import check_synthetic_frames
from blip_pose.run_folder import RunFolder
from blip_pose.run_record import SAMPLE_DATASET_NAME, SYNTHETIC_DATASET_NAME
from mpii_pose_dataset.builder import MpiiPoseCaption
from mpii_pose_dataset.export import build
from mpii_pose_dataset.sample import SAMPLE_DIR
from mpii_pose_dataset.synthetic import build_synthetic
from pose_dataset.export import REPORTS_DIR
from pose_dataset.registry import register_offline

#: ``synthetic`` builds ``video_split`` unless told otherwise: split by video, no figure on both sides.
SYNTHETIC_DEFAULT_CONFIG = "video_split"
#: From this many frames on, the build decodes images in two worker processes (below, start-up costs more).
_PARALLEL_FROM = 2000


def _built(folder: Path, config: str) -> bool:
    """Whether ``config`` finished building into ``folder`` (its report is written last)."""
    return (folder / REPORTS_DIR / f"{config}.json").is_file()


def build_sample(config_name: str | None, work_dir: Path, synthetic_size: int = 0, synthetic_seed: int = 0) -> str:
    """The bundled sample built into ``<work_dir>/sample-dataset`` (~1 s); the synthetic settings are unused."""
    config = config_name or MpiiPoseCaption.DEFAULT_CONFIG_NAME
    folder = RunFolder(work_dir).sample_dataset
    if not _built(folder, config):
        build(folder, data_dir=SAMPLE_DIR, configs=[config])
    return str(folder)


def build_synthetic_named(config_name: str | None, work_dir: Path, synthetic_size: int, synthetic_seed: int) -> str:
    """``synthetic_size`` procedural frames from ``synthetic_seed`` built into
    ``<work_dir>/synthetic-<config>-n<size>-seed<seed>`` (:meth:`RunFolder.synthetic_dataset`)."""
    check_synthetic_frames(synthetic_size, "synthetic_size")
    config = config_name or SYNTHETIC_DEFAULT_CONFIG
    folder = RunFolder(work_dir).synthetic_dataset(config, synthetic_size, synthetic_seed)
    if not _built(folder, config):
        num_proc = 2 if synthetic_size >= _PARALLEL_FROM else None
        build_synthetic(folder, synthetic_size, synthetic_seed, config, num_proc=num_proc)
    return str(folder)


register_offline(SAMPLE_DATASET_NAME, build_sample)
register_offline(SYNTHETIC_DATASET_NAME, build_synthetic_named)
