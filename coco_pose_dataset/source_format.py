"""COCO-keypoints files as a source format of the build core (registered as ``coco``; one of
:data:`pose_dataset.registry.BUILT_IN`): the ``build`` options, reading the file(s), the build report and the card.

The core's ``data_dir`` is the annotation JSON itself (a COCO file names its images; ``images_dir`` says where they
are); the build report records the file's name and sha256 (``kind: coco``), the validation file's when given, and
``synthetic: true`` with the generator's seed for a file :mod:`coco_pose_dataset.synthetic` drew.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from blip_pose.keypoints import KeypointSpec
from coco_pose_dataset.builder import COLUMN_DOCS, SKIP_REASONS, CocoPoseCaption, read_build_report
from coco_pose_dataset.reader import read_coco_keypoints
from coco_pose_dataset.synthetic import GENERATOR, SYNTHETIC_SUFFIX
from pose_dataset.registry import CardText, SourceRead, register_source

KIND = "coco"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CocoFormat:
    """A COCO-keypoints JSON (COCO's people or any category with ``keypoints``) and its images folder."""

    name = "coco"
    configs = tuple(c.name for c in CocoPoseCaption.BUILDER_CONFIGS)
    default_config = CocoPoseCaption.DEFAULT_CONFIG_NAME

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--coco-json",
            action="append",
            metavar="JSON",
            help="COCO-keypoints file; give it twice for train and validation files (or use --val-json)",
        )
        source.add_argument(
            "--synthetic",
            type=int,
            metavar="N",
            help="N procedural pictures written as a COCO file (coco_pose_dataset.synthetic), offline",
        )
        parser.add_argument("--images", help="folder the files' image file_name are relative to")
        parser.add_argument("--val-json", help="the validation split's COCO file (default: a seeded split by image)")
        parser.add_argument("--category", help="category name or id (needed when several have keypoints)")
        parser.add_argument(
            "--kind", choices=("person", "star"), default="person", help="--synthetic set (default: %(default)s)"
        )

    def source(self, data_dir: Path) -> dict[str, Any]:
        if not data_dir.is_file():
            raise ValueError(f"{data_dir}: no such file (the COCO-keypoints JSON)")
        source: dict[str, Any] = {
            "kind": KIND,
            "annotation_file": data_dir.name,
            "annotation_sha256": _sha256(data_dir),
        }
        try:  # drawn by coco_pose_dataset.synthetic: only when its record names this very file
            drawn = json.loads(data_dir.with_suffix(SYNTHETIC_SUFFIX).read_text())
        except (OSError, ValueError):
            drawn = None
        if isinstance(drawn, dict) and drawn.get("annotation_sha256") == source["annotation_sha256"]:
            source.update(synthetic=True, generator=GENERATOR, seed=drawn.get("seed"), frames=drawn.get("images"))
        return source

    def read(
        self, config: str, data_dir: Path | None, work_dir: Path, cache_dir: Path | None, overrides: dict[str, Any]
    ) -> SourceRead:
        if data_dir is None:
            raise ValueError("the coco format has no download: give the annotation file (--coco-json)")
        images = overrides.get("images_dir") or ""
        if not images or not Path(images).is_dir():
            raise ValueError(f"--images: {images or '(not given)'} is not a folder of the file's images")
        category = overrides.get("category")
        train = read_coco_keypoints(data_dir, images, category)
        validation = None
        source = self.source(data_dir)
        if overrides.get("val_json"):
            val_path = Path(overrides["val_json"])
            validation = read_coco_keypoints(val_path, images, category)
            if validation.spec != train.spec:
                raise ValueError(f"{val_path}: its keypoint set differs from {data_dir.name}'s ({train.spec.name})")
            source.update(val_annotation_file=val_path.name, val_annotation_sha256=_sha256(val_path))
        builder = CocoPoseCaption(
            config_name=config,
            train=train,
            validation=validation,
            work_dir=work_dir,
            cache_dir=None if cache_dir is None else str(cache_dir),
            **overrides,
        )

        def report() -> dict[str, Any]:
            return {
                **read_build_report(work_dir),
                "annotation_file": data_dir.name,
                "images": len({p.image_id for p in train.persons} | {p.image_id for p in validation.persons})
                if validation
                else len({p.image_id for p in train.persons}),
                "unit": "person",
                "recipe": builder.config.recipe(train.spec),
                "source": source,
            }

        return SourceRead(builder, train.spec, report)

    def card(self, reports: dict[str, dict]) -> CardText:
        return card_text(reports)


def _keypoint_table(spec: KeypointSpec) -> str:
    rows = [f"| {i} | {name} | `{token}` |" for i, (name, token) in enumerate(zip(spec.names, spec.captions))]
    return "\n".join(["| id | keypoint | caption token |", "|---|---|---|", *rows])


def card_text(reports: dict[str, dict]) -> CardText:
    """Title, license and tags, and the body: configs, the visibility rule, columns, keypoints, skips."""
    first = next(iter(reports.values()))
    spec = KeypointSpec.from_dict(first["keypoints"]) if first.get("keypoints") else None
    source = first.get("source") or {}
    lines = [
        f"\n# Pose captions from `{source.get('annotation_file', 'a COCO file')}`\n",
        "Built by `python -m coco_pose_dataset build` from a COCO-keypoints file: one example per person, a square "
        "crop of side max(w, h) × crop_padding around the person box (mmpose's top-down crop), resized to "
        "image_size, with every caption column of the file's keypoint set.\n",
        "Visibility: COCO's `v=2` (visible) is 1, `v=1` (labelled but occluded) is 0. A person with an unlabelled "
        "keypoint (`v=0`) is skipped (`unlabelled_keypoints`): every caption names every keypoint of the set.\n",
        "## Configs\n",
    ]
    for name, report in reports.items():
        examples = ", ".join(f"{split} {n}" for split, n in report["examples"].items())
        skipped = ", ".join(f"{reason} {n}" for reason, n in report["skipped"].items()) or "none"
        lines.append(f"- `{name}`: {examples} (persons skipped: {skipped}); recipe `{report['recipe']}`")
    lines += ["\n## Columns\n", *(f"- `{c}`: {doc}" for c, doc in COLUMN_DOCS.items())]
    lines.append("- caption columns (`text`, `visibility_text`, …): the project's caption formats, in crop pixels")
    if spec is not None:
        lines += [f"\n## Keypoints ({spec.name}, {spec.num_keypoints})\n", _keypoint_table(spec)]
    lines += ["\n## Skip reasons\n", *(f"- `{reason}`: {why}" for reason, why in SKIP_REASONS.items())]
    synthetic = bool(source.get("synthetic"))
    if synthetic:
        lines.insert(1, f"Synthetic: pictures drawn by `{source.get('generator')}` (seed {source.get('seed')}).\n")
    metadata = {
        "pretty_name": f"Pose captions ({spec.name if spec else 'COCO keypoints'})",
        "license": "apache-2.0" if synthetic else "other",  # drawn pictures are the project's; a file's are not
        "task_categories": ["image-to-text"],
        "tags": ["pose-estimation", "keypoints", "image-captioning", "coco-format", *(["synthetic"] * synthetic)],
    }
    return CardText(metadata, "\n".join(lines) + "\n")


COCO = register_source(CocoFormat())
