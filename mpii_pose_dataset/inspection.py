"""Look at a built folder: examples per split and skips per reason (from the build reports), skeleton overlays.

Named ``inspection`` rather than ``inspect`` so that it never shadows the standard library module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from datasets import Features
from tqdm.auto import tqdm

from blip_pose.overlay import draw_pose
from mpii_pose_dataset.export import format_report
from pose_dataset.card import data_pattern, default_config
from pose_dataset.export import load_reports, split_sizes
from pose_dataset.registry import format_of


def built_config(folder: str | Path, config: str | None) -> str:
    """``config`` when the folder has it built (default: the folder's default config); else a ValueError naming
    the configs that are there."""
    reports = load_reports(folder)
    if config is None:
        return default_config(reports, format_of(reports).default_config)
    if config not in reports:
        raise ValueError(f"{folder}: config {config!r} is not built here (built: {', '.join(sorted(reports))})")
    return config


def summary(folder: str | Path, config: str | None = None) -> str:
    """Counts of every built config (only ``config``'s when given); the parquet row counts are checked against the
    build report."""
    lines = []
    reports = load_reports(folder)
    if config is not None:
        reports = {built_config(folder, config): reports[config]}
    for name, report in reports.items():
        lines.append(format_report(report))
        sizes = split_sizes(folder, name)
        if sizes != report["examples"]:
            lines.append(
                f"[{name}] WARNING: the parquet files hold {sizes}, the build report says "
                f"{report['examples']}; rebuild this config"
            )
    return "\n".join(lines)


def read_examples(folder: str | Path, config: str, split: str, n: int) -> Iterator[dict]:
    """The first ``n`` examples of a split, decoded (images as PIL), straight from the parquet files (with the
    features their schema records: a release build's or a standard build's columns)."""
    files = sorted(Path(folder).glob(data_pattern(config, split)))
    if not files:
        raise FileNotFoundError(f"{folder}: no {split} files for config {config!r} ({data_pattern(config, split)})")
    left = n
    for path in files:
        parquet = pq.ParquetFile(path)
        features = Features.from_arrow_schema(parquet.schema_arrow)
        for batch in parquet.iter_batches(batch_size=max(1, min(left, 64))):
            for row in batch.to_pylist()[:left]:
                yield features.decode_example(row)
                left -= 1
            if left <= 0:
                return


def write_overlays(
    folder: str | Path,
    out_dir: str | Path,
    n: int,
    config: str | None = None,
    split: str = "validation",
    *,
    names: bool = True,
) -> list[Path]:
    """Draw the skeleton (joint names where there is room, unless ``names`` is False) on the first ``n`` examples of
    a split as PNGs, in the colours of every other overlay of the project (:mod:`blip_pose.overlay`)."""
    config = built_config(folder, config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    examples = read_examples(folder, config, split, n)
    for i, example in enumerate(tqdm(examples, total=n, desc=f"overlays ({config}/{split})")):
        points = np.asarray(example["joint_points"], dtype=np.float64)
        # MPII's releases number the persons of an image; the standard files number their entries.
        kind = "person" if "person_index" in example else "entry"
        index = example["person_index" if kind == "person" else "standard_index"]
        label = f"{example['image_name']} {kind} {index}"
        image = draw_pose(example["image"], points[:, :2], names=names, label=label)
        path = out_dir / f"{i:03d}_{Path(example['image_name']).stem}_{index}.png"
        image.save(path)
        paths.append(path)
    return paths
