"""What a build reads from: an MPII-format release, the bundled sample, or procedural people, with a content hash.

The builder records :func:`release_source` in each config's build report; the dataset card writes it under
:data:`blip_pose.dataset_source.DATASET_SOURCE_CARD_KEY` (training reads it from there), and
:func:`pose_dataset.export.check_same_source` refuses a folder whose configs would come from two sources.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mpii_pose_dataset.sample import SAMPLE_MAT

#: Written by :func:`mpii_pose_dataset.synthetic.generate` beside the annotation file it draws.
SYNTHETIC_RECORD = "synthetic.json"
GENERATOR = "mpii_pose_dataset.synthetic"


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
