"""What a build reads from: an MPII-format release, the bundled sample, or procedural people, with a content hash.

The builder records :func:`release_source` in each config's build report; the dataset card writes it under
:data:`blip_pose.dataset_source.DATASET_SOURCE_CARD_KEY` (training reads it from there), and
:func:`check_same_source` refuses a folder whose configs would come from two different sources.
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


def same_source(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two recorded sources are the same file (an unrecorded source matches nothing)."""
    return bool(a and b and a.get("annotation_sha256") == b.get("annotation_sha256"))


def describe(source: dict[str, Any] | None) -> str:
    if not source:
        return "an unrecorded source"
    return (
        f"{source.get('kind')} `{source.get('annotation_file')}` (sha256 {str(source.get('annotation_sha256'))[:12]})"
    )


def check_same_source(folder: Path, configs: dict[str, dict], source: dict[str, Any], overwrite: bool) -> list[str]:
    """The configs of ``configs`` (build reports already in ``folder``) built from another source than ``source``.

    Without ``overwrite`` any such config is an error naming it and both sources; with it, the caller drops them.
    """
    others = [name for name, report in configs.items() if not same_source(report.get("source"), source)]
    if others and not overwrite:
        first = configs[others[0]].get("source")
        raise ValueError(
            f"{folder}: config(s) {', '.join(others)} were built from {describe(first)}, this build reads "
            f"{describe(source)}; one folder holds one source: use another --output, or --overwrite to replace them"
        )
    return others
