"""What a build reads from: an MPII-format release, the bundled sample, or procedural people, with a content hash;
or MPII's standard-protocol files (:func:`standard_source`).

The builder records :func:`release_source` in each config's build report; the dataset card writes it under
:data:`blip_pose.dataset_source.DATASET_SOURCE_CARD_KEY` (training reads it from there), and
:func:`pose_dataset.export.check_same_source` refuses a folder whose configs would come from two sources.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from blip_pose.dataset_source import STANDARD_KIND
from mpii_pose_dataset.download import STANDARD_HEAD_BOXES, STANDARD_TRAIN, STANDARD_VAL
from mpii_pose_dataset.sample import SAMPLE_MAT

#: Written by :func:`mpii_pose_dataset.synthetic.generate` beside the annotation file it draws.
SYNTHETIC_RECORD = "synthetic.json"
GENERATOR = "mpii_pose_dataset.synthetic"
#: Written by :func:`mpii_pose_dataset.standard_fixtures.write_standard_fixtures` beside the files it writes.
FIXTURE_RECORD = "standard_fixtures.json"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def release_source(mat_path: str | Path) -> dict[str, Any]:
    """``kind`` (mpii / sample / synthetic), the annotation file's name and sha256, and the generator's settings.

    A folder is ``synthetic`` only when its generator record names this very annotation file (by hash), so an
    edited or replaced ``.mat`` is not passed off as generated.
    """
    mat_path = Path(mat_path)
    digest = file_sha256(mat_path)
    source: dict[str, Any] = {"kind": "mpii", "annotation_file": mat_path.name, "annotation_sha256": digest}
    if digest == file_sha256(SAMPLE_MAT):
        source["kind"] = "sample"
    try:
        generated = json.loads((mat_path.parent / SYNTHETIC_RECORD).read_text())
    except (OSError, ValueError):
        generated = None
    if isinstance(generated, dict) and generated.get("annotation_sha256") == digest:
        source.update(kind="synthetic", generator=GENERATOR, seed=generated.get("seed"), frames=generated.get("frames"))
    return source


def standard_source(folder: str | Path) -> dict[str, Any]:
    """``kind`` ``mpii_standard``, each standard file's name and sha256 (``annotation_*``: ``mpii_train.json``,
    ``val_annotation_*``: ``mpii_val.json``, ``head_boxes_*``: ``mpii_gt_val.mat`` when present), and
    ``synthetic: true`` when the fixture record beside them names these very JSON files (drawn from the sample)."""
    folder = Path(folder)
    train, val, heads = (folder / name for name in (STANDARD_TRAIN, STANDARD_VAL, STANDARD_HEAD_BOXES))
    source: dict[str, Any] = {"kind": STANDARD_KIND, "annotation_file": train.name}
    source["annotation_sha256"] = file_sha256(train)
    source.update(val_annotation_file=val.name, val_annotation_sha256=file_sha256(val))
    if heads.is_file():
        source.update(head_boxes_file=heads.name, head_boxes_sha256=file_sha256(heads))
    try:
        record = json.loads((folder / FIXTURE_RECORD).read_text())
    except (OSError, ValueError):
        record = None
    hashes = record.get("sha256") if isinstance(record, dict) else None
    if hashes == {train.name: source["annotation_sha256"], val.name: source["val_annotation_sha256"]}:
        source.update(synthetic=True, generator="mpii_pose_dataset.standard_fixtures")
    return source
