"""Run the builder and lay its output out the way the Hub (and ``load_dataset(folder)``) reads it.

::

    <output>/README.md                                  dataset card; its YAML maps configs to data files
    <output>/data/<config>/train-00000-of-00002.parquet   images stored once, as JPEG bytes
    <output>/data/<config>/validation-00000-of-00001.parquet
    <output>/reports/<config>.json                       skip counts, recipe and dataset_info of each config

Building another config into the same folder adds it; rebuilding a config replaces its files. One folder holds one
source (:mod:`mpii_pose_dataset.source`): a config from another annotation file is refused unless ``overwrite``,
which then drops the configs of the other source. The card is
regenerated from ``reports/`` every time, so it always lists exactly the configs present. The whole new folder is
written beside the output and swapped in only when complete (:mod:`mpii_pose_dataset.staging`): a failed, killed
or interrupted build leaves the previous dataset as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mpii_pose_dataset.builder import SPLITS, MpiiPoseCaption, read_build_report
from mpii_pose_dataset.dataset_card import DATA_DIR, write_card
from mpii_pose_dataset.download import find_annotations
from mpii_pose_dataset.examples import SELECTION_RULES
from mpii_pose_dataset.source import check_same_source, release_source
from mpii_pose_dataset.staging import staged

REPORTS_DIR = "reports"


def _move_shards(prepared: Path, target: Path, dataset_name: str) -> dict[str, list[str]]:
    """Rename ``<name>-<split>[-SSSSS-of-NNNNN].parquet`` to ``<split>-SSSSS-of-NNNNN.parquet`` under ``target``."""
    moved: dict[str, list[str]] = {}
    for split in SPLITS:
        files = sorted(prepared.glob(f"{dataset_name}-{split}*.parquet"))
        for i, path in enumerate(files):
            match = re.search(r"-(\d{5})-of-(\d{5})\.parquet$", path.name)
            shard, total = match.groups() if match else (f"{i:05d}", f"{len(files):05d}")
            name = f"{split}-{shard}-of-{total}.parquet"
            shutil.move(str(path), target / name)
            moved.setdefault(split, []).append(name)
    return moved


def build(
    output: str | Path,
    *,
    data_dir: str | Path | None = None,
    configs: Iterable[str] = ("paper",),
    num_proc: int | None = None,
    cache_dir: str | Path | None = None,
    max_shard_size: str | int = "500MB",
    overwrite: bool = False,
    **overrides: Any,
) -> dict[str, dict]:
    """Build ``configs`` into ``output``; returns each config's build report.

    Args:
        data_dir: the MPII folder (annotation ``.mat`` and ``images/``); None downloads the official archives.
        num_proc: worker processes for image decoding (``datasets``' own sharded generation).
        cache_dir: ``datasets`` cache (holds the downloaded archives with ``data_dir=None``).
        overwrite: replace a non-empty ``output`` that is not a dataset folder this project wrote, and drop the
            configs of a folder that were built from another source.
        overrides: config fields (image_size, seed, validation_ratio, simple_joints, crop_padding, jpeg_quality,
            split_by) applied to every config built.
    """
    reports = {}
    configs = list(configs)
    with staged(output, overwrite=overwrite) as stage:
        (stage / REPORTS_DIR).mkdir(exist_ok=True)
        if data_dir is not None:  # known before any work; a download is checked once it is read
            _one_source(stage, release_source(find_annotations(Path(data_dir).expanduser())), configs, overwrite)
        for name in configs:
            reports[name] = _build_config(stage, name, data_dir, cache_dir, num_proc, max_shard_size, overrides)
            _one_source(stage, reports[name]["source"], configs, overwrite)
        write_card(stage, load_reports(stage))
    return reports


def _one_source(stage: Path, source: dict, building: list[str], overwrite: bool) -> None:
    """Refuse (or, with ``overwrite``, drop) the folder's other configs when they came from another source."""
    others = {p.stem: json.loads(p.read_text()) for p in (stage / REPORTS_DIR).glob("*.json") if p.stem not in building}
    for name in check_same_source(stage, others, source, overwrite):
        shutil.rmtree(stage / DATA_DIR / name, ignore_errors=True)
        (stage / REPORTS_DIR / f"{name}.json").unlink()


def _build_config(
    stage: Path,
    name: str,
    data_dir: str | Path | None,
    cache_dir: str | Path | None,
    num_proc: int | None,
    max_shard_size: str | int,
    overrides: dict[str, Any],
) -> dict:
    """Prepare one config into ``stage`` (data/<name>/ and reports/<name>.json); an empty split is an error."""
    with tempfile.TemporaryDirectory(prefix=f".build-{name}-", dir=stage) as tmp:
        builder = MpiiPoseCaption(
            config_name=name,
            data_dir=None if data_dir is None else str(Path(data_dir).expanduser()),
            cache_dir=None if cache_dir is None else str(cache_dir),
            work_dir=Path(tmp) / "work",
            **overrides,
        )
        prepared = Path(tmp) / "prepared"
        builder.download_and_prepare(
            output_dir=str(prepared), file_format="parquet", num_proc=num_proc, max_shard_size=max_shard_size
        )
        report = read_build_report(builder.work_dir)
        check_splits(name, report)
        target = stage / DATA_DIR / name
        shutil.rmtree(target, ignore_errors=True)  # the previous build's links, inside the stage only
        target.mkdir(parents=True)
        files = _move_shards(prepared, target, builder.dataset_name)
    report["config"] = name
    report["files"] = files
    report["dataset_info"] = builder.info._to_yaml_dict()
    # No local paths in a folder that may be published.
    full, short = report["annotation_file"], Path(report["annotation_file"]).name
    report["annotation_file"] = short
    report["malformed_annotation_messages"] = [m.replace(full, short) for m in report["malformed_annotation_messages"]]
    (stage / REPORTS_DIR / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def check_splits(name: str, report: dict) -> None:
    """A split without examples is an error naming it and the skip counts (load_dataset cannot read it)."""
    empty = [split for split in SPLITS if not report["examples"].get(split)]
    if empty:
        skipped = ", ".join(f"{reason} {n}" for reason, n in report["skipped"].items()) or "none"
        raise ValueError(
            f"config {name!r}: the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty "
            f"(examples {report['examples']}; skipped {report['unit']}s: {skipped}); nothing was written"
        )


def load_reports(folder: str | Path) -> dict[str, dict]:
    """The build reports of the configs present in a built folder, by config name."""
    reports_dir = Path(folder) / REPORTS_DIR
    if not reports_dir.is_dir():
        raise FileNotFoundError(f"{folder}: not a built mpii_pose_caption folder (no {REPORTS_DIR}/); run build first")
    reports = {}
    for path in sorted(reports_dir.glob("*.json")):
        try:
            reports[path.stem] = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not reports:
        raise FileNotFoundError(f"{folder}: {REPORTS_DIR}/ holds no build report; run build first")
    return reports


def format_report(report: dict) -> str:
    """A few lines for the terminal: examples per split and skipped candidates per reason."""
    lines = [f"[{report['config']}] examples: " + ", ".join(f"{s} {n}" for s, n in report["examples"].items())]
    skipped = report["skipped"]
    if skipped:
        total = sum(skipped.values())
        lines.append(
            f"[{report['config']}] skipped {total} {report['unit']}(s): "
            + ", ".join(f"{reason} {n}" for reason, n in skipped.items())
        )
    rule = report.get("selection")
    if rule == "one_annorect":  # the method's rule needs single_person: say loudly that another one was used
        lines.append(f"[{report['config']}] note: {SELECTION_RULES[rule]}")
    if report.get("visibility_defaulted"):
        count = report["visibility_defaulted"]
        lines.append(f"[{report['config']}] empty is_visible read as visible (1): {count} joints")
    for message in report.get("malformed_annotation_messages", [])[:5]:
        lines.append(f"  malformed: {message}")
    return "\n".join(lines)
