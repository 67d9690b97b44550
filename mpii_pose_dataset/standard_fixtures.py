"""The bundled MPII-format sample written as MPII's standard-protocol files, so the standard build runs offline.

``write_standard_fixtures(out)`` writes ``out/annotations/`` with ``mpii_train.json``, ``mpii_val.json`` and
``mpii_gt_val.mat`` in mmpose's/HRNet's exact layout and MATLAB's 1-based values (as the published files: the
reader, :mod:`mpii_pose_dataset.standard_protocol`, subtracts 1), and ``out/images/`` with the sample's pictures.
Every annotated person with a head box, centre and scale becomes an entry; an unlabelled joint is ``[-1, -1]`` with
``joints_vis`` 0 (HRNet's files), so the sample's partly labelled persons reach the build as they would from the
real files. Images whose annolist index is a multiple of 3 are validation, the rest training (one picture's persons
on one side). A record beside the files names their hashes, so a build says its source is the synthetic sample.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from blip_pose.geometry import MATLAB_ORIGIN
from blip_pose.keypoints.mpii import MPII16
from mpii_pose_dataset.download import STANDARD_HEAD_BOXES, STANDARD_TRAIN, STANDARD_VAL
from mpii_pose_dataset.reader import Person, read_release
from mpii_pose_dataset.sample import SAMPLE_IMAGES, SAMPLE_MAT
from mpii_pose_dataset.source import FIXTURE_RECORD, file_sha256

#: An unlabelled joint's value in HRNet's files.
UNLABELLED = -1.0


def _entry(name: str, person: Person) -> dict[str, Any]:
    """One ``mpii_*.json`` entry of a person, 1-based."""
    joints, vis = [[UNLABELLED, UNLABELLED]] * MPII16.num_keypoints, [0] * MPII16.num_keypoints
    for point in person.points:
        joints[point.id], vis[point.id] = [point.x + MATLAB_ORIGIN, point.y + MATLAB_ORIGIN], 1
    assert person.center is not None and person.scale is not None  # selected by the caller
    center = [c + MATLAB_ORIGIN for c in person.center]
    return {"joints_vis": vis, "joints": joints, "image": name, "scale": person.scale, "center": center}


def write_gt_val(path: Path, entries: list[dict[str, Any]], head_boxes: list[tuple[float, ...]]) -> None:
    """``mpii_gt_val.mat`` as the evaluation code reads it: ``headboxes_src`` (2 corners x 2 x N), ``jnt_missing``
    (16 x N), ``pos_gt_src`` (16 x 2 x N), 1-based; one column per entry of ``mpii_val.json`` in order."""
    heads = np.asarray(head_boxes, dtype=np.float64).reshape(-1, 2, 2) + MATLAB_ORIGIN
    joints = np.asarray([e["joints"] for e in entries], dtype=np.float64)
    missing = 1 - np.asarray([e["joints_vis"] for e in entries], dtype=np.float64)
    scipy.io.savemat(
        str(path),
        {
            "headboxes_src": heads.transpose(1, 2, 0),
            "jnt_missing": missing.T,
            "pos_gt_src": joints.transpose(1, 2, 0),
            "dataset_joints": np.array(MPII16.captions, dtype=object),
        },
    )


def write_standard_fixtures(out: str | Path) -> Path:
    """Write the fixtures under ``out`` (module docstring); returns the annotations folder."""
    out = Path(out)
    annotations, images = out / "annotations", out / "images"
    annotations.mkdir(parents=True, exist_ok=True)
    images.mkdir(exist_ok=True)
    splits: dict[str, list[dict[str, Any]]] = {STANDARD_TRAIN: [], STANDARD_VAL: []}
    heads: list[tuple[float, ...]] = []
    for record in read_release(SAMPLE_MAT):
        persons = [p for p in record.persons if p.points and p.head_box and p.center and p.scale]
        if not persons:
            continue
        split = STANDARD_VAL if record.index % 3 == 0 else STANDARD_TRAIN
        for person in persons:
            splits[split].append(_entry(record.name, person))
            if split == STANDARD_VAL:
                assert person.head_box is not None
                heads.append(person.head_box)
        shutil.copy2(SAMPLE_IMAGES / record.name, images / record.name)
    for name, entries in splits.items():
        (annotations / name).write_text(json.dumps(entries))
    write_gt_val(annotations / STANDARD_HEAD_BOXES, splits[STANDARD_VAL], heads)
    hashes = {name: file_sha256(annotations / name) for name in splits}
    (annotations / FIXTURE_RECORD).write_text(json.dumps({"source": str(SAMPLE_MAT.name), "sha256": hashes}))
    return annotations
