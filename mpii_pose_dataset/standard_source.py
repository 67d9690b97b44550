"""MPII's standard protocol as a source format of the build core (registered as ``mpii_standard``; one of
:data:`pose_dataset.registry.BUILT_IN`): its ``build-standard`` options, reading, build report and card.

A format of its own rather than a config of ``mpii``: the core asks a format for the source of a folder before
any config is read (``source(data_dir)``), and the two read different files (MPII's ``.mat`` release; mmpose's
``mpii_train.json`` / ``mpii_val.json`` / ``mpii_gt_val.mat`` with an images folder), have different options and
download different archives. The core's ``data_dir`` is the folder of the standard files (None: download them
with the official images); the build report records each file's name and sha256 (``kind: mpii_standard``), and
``synthetic: true`` for the fixtures drawn from the bundled sample
(:func:`mpii_pose_dataset.standard_fixtures.write_standard_fixtures`). Evaluations of a split built from it add
the literature's PCKh table (:func:`blip_pose.dataset_source.reports_pckh_table`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from blip_pose.keypoints.mpii import MPII16
from mpii_pose_dataset.builder import CITATION, HOMEPAGE
from mpii_pose_dataset.download import STANDARD_URL, find_standard_files
from mpii_pose_dataset.features import COLUMN_DOCS as MPII_COLUMN_DOCS
from mpii_pose_dataset.source import standard_source
from mpii_pose_dataset.standard_builder import (
    COLUMN_DOCS,
    SKIP_REASONS,
    STANDARD_FEATURES,
    MpiiStandard,
    read_build_report,
)
from pose_dataset.registry import CardText, SourceRead, register_source


class MpiiStandardFormat:
    """mmpose's/HRNet's MPII annotation files (the standard train/validation split) and MPII's images."""

    name = "mpii_standard"
    configs = tuple(c.name for c in MpiiStandard.BUILDER_CONFIGS)
    default_config = MpiiStandard.DEFAULT_CONFIG_NAME

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--annotations", metavar="DIR", help="folder of mpii_train.json, mpii_val.json and mpii_gt_val.mat"
        )
        source.add_argument(
            "--download",
            action="store_true",
            help=f"download mmpose's annotation files ({STANDARD_URL}) and the official images (~13 GB)",
        )
        parser.add_argument(
            "--images",
            help="folder of MPII's images (the files' image names): needed with --annotations; with --download, "
            "only the annotation files are fetched",
        )

    def source(self, data_dir: Path) -> dict[str, Any]:
        return standard_source(find_standard_files(data_dir))

    def read(
        self, config: str, data_dir: Path | None, work_dir: Path, cache_dir: Path | None, overrides: dict[str, Any]
    ) -> SourceRead:
        overrides = dict(overrides)
        images = overrides.pop("images_dir", None)
        if (data_dir is not None or images) and not (images and Path(images).is_dir()):
            raise ValueError(f"--images: {images or '(not given)'} is not a folder of MPII's images")
        if images:  # with --download: the annotations are fetched, the images are these
            overrides["images_dir"] = str(images)
        if data_dir is not None:
            overrides["annotations_dir"] = str(find_standard_files(data_dir))
        builder = MpiiStandard(
            config_name=config,
            work_dir=work_dir,
            cache_dir=None if cache_dir is None else str(cache_dir),
            **overrides,
        )

        def report() -> dict[str, Any]:
            return {**read_build_report(work_dir), "unit": "person", "recipe": builder.config.recipe()}

        return SourceRead(builder, MPII16, report)

    def card(self, reports: dict[str, dict]) -> CardText:
        return card_text(reports)


def card_text(reports: dict[str, dict]) -> CardText:
    """Title, license and tags, and the body: what the split is, what is skipped, columns, skips."""
    first = next(iter(reports.values()))
    source = first.get("source") or {}
    synthetic = bool(source.get("synthetic"))
    lines = [
        "\n# MPII Human Pose captions, standard protocol\n",
        "Built by `python -m mpii_pose_dataset build-standard` from MPII's standard train/validation split as "
        "mmpose and HRNet distribute it (`mpii_train.json`, `mpii_val.json`, head boxes from `mpii_gt_val.mat`): "
        "one example per person, a square crop of side 200·scale·1.25 around the file's centre moved down by "
        "15·scale (mmpose's top-down crop), with every caption column of MPII-16. Coordinates are 0-based: the "
        "files' 1-based joints and centre have 1 subtracted (as HRNet's loader does).\n",
        "A person with an unlabelled joint (`joints_vis` 0) is skipped: every caption names all 16 joints. The "
        "validation split is the fully labelled part of `mpii_val.json`, so its PCKh is not the published "
        "benchmark's number on all of it. The files flag no occlusion: the visibility columns write 1 (labelled) "
        "for every joint.\n",
        "## Configs\n",
    ]
    for name, report in reports.items():
        examples = ", ".join(f"{split} {n}" for split, n in report["examples"].items())
        skipped = ", ".join(f"{reason} {n}" for reason, n in report["skipped"].items()) or "none"
        lines.append(f"- `{name}`: {examples} (persons skipped: {skipped}); recipe `{report['recipe']}`")
    docs = {**MPII_COLUMN_DOCS, **COLUMN_DOCS}
    lines += ["\n## Columns\n", *(f"- `{c}`: {docs[c]}" for c in STANDARD_FEATURES if c in docs)]
    lines += ["\n## Skip reasons\n", *(f"- `{reason}`: {why}" for reason, why in SKIP_REASONS.items())]
    if synthetic:
        lines.insert(1, "**Synthetic**: the bundled sample's stick figures written as the standard files, not MPII.\n")
    else:
        lines += ["\n## License\n", f"MPII Human Pose's terms apply: see {HOMEPAGE}.\n"]
        lines += [f"```bibtex\n{CITATION}\n```"]
    metadata = {
        "pretty_name": "MPII Human Pose captions (standard protocol)",
        "license": "apache-2.0" if synthetic else "other",
        "task_categories": ["image-to-text"],
        "tags": ["pose-estimation", "keypoints", "image-captioning", "mpii", *(["synthetic"] * synthetic)],
    }
    return CardText(metadata, "\n".join(lines) + "\n")


MPII_STANDARD = register_source(MpiiStandardFormat())
