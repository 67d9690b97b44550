"""MPII's ``.mat`` release as a source format of the build core: its command-line sources, its builder and
configs (``paper``, ``video_split``, ``person_crop``), its card. Importing this module registers it as ``mpii``
(:func:`pose_dataset.registry.register_source`; it is one of the registry's built-in modules).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from blip_pose.dataset_source import SYNTHETIC_FRAMES_HELP
from blip_pose.keypoints.mpii import MPII16
from mpii_pose_dataset.builder import MpiiPoseCaption, read_build_report
from mpii_pose_dataset.dataset_card import card_text
from mpii_pose_dataset.download import find_annotations
from mpii_pose_dataset.source import release_source
from pose_dataset.registry import CardText, SourceRead, register_source


class MpiiFormat:
    """An MPII-format release: the annotation ``.mat`` beside ``images/`` (the real one, the sample, synthetic)."""

    name = "mpii"
    configs = tuple(c.name for c in MpiiPoseCaption.BUILDER_CONFIGS)
    default_config = MpiiPoseCaption.DEFAULT_CONFIG_NAME

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--mpii-dir", help="MPII folder: the annotation .mat and images/")
        source.add_argument("--sample", action="store_true", help="the bundled MPII-format sample (offline)")
        source.add_argument("--download", action="store_true", help="download the official archives (~13 GB)")
        source.add_argument(
            "--synthetic",
            type=int,
            metavar="N",
            help="N procedural stick-figure frames generated from --seed (default 0; the split keeps the config's "
            f"seed, as build_synthetic does), offline; default config video_split; N: {SYNTHETIC_FRAMES_HELP}",
        )

    def source(self, data_dir: Path) -> dict[str, Any]:
        return release_source(find_annotations(data_dir))

    def read(
        self, config: str, data_dir: Path | None, work_dir: Path, cache_dir: Path | None, overrides: dict[str, Any]
    ) -> SourceRead:
        builder = MpiiPoseCaption(
            config_name=config,
            data_dir=None if data_dir is None else str(data_dir),
            cache_dir=None if cache_dir is None else str(cache_dir),
            work_dir=work_dir,
            **overrides,
        )
        return SourceRead(builder, MPII16, lambda: _report(builder))

    def card(self, reports: dict[str, dict]) -> CardText:
        return card_text(reports)


def _report(builder: MpiiPoseCaption) -> dict[str, Any]:
    """The builder's report, without local paths (the folder may be published)."""
    report = read_build_report(builder.work_dir)
    full, short = report["annotation_file"], Path(report["annotation_file"]).name
    report["annotation_file"] = short
    report["malformed_annotation_messages"] = [m.replace(full, short) for m in report["malformed_annotation_messages"]]
    return report


MPII = register_source(MpiiFormat())
