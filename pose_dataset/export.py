"""Run a source format's builder and lay its output out the way the Hub (and ``load_dataset(folder)``) reads it.

::

    <output>/README.md                                  dataset card; its YAML maps configs to data files
    <output>/data/<config>/train-00000-of-00002.parquet   images stored once, as JPEG bytes
    <output>/data/<config>/validation-00000-of-00001.parquet
    <output>/reports/<config>.json                       skip counts, recipe, source, keypoints, dataset_info

Building another config into the same folder adds it; rebuilding a config replaces its files. One folder holds one
source (:func:`check_same_source`): a config from another annotation file is refused unless ``overwrite``, which
then drops the configs of the other source. The card is regenerated from ``reports/`` every time, so it always
lists exactly the configs present. The whole new folder is written beside the output and swapped in only when
complete (:mod:`pose_dataset.staging`): a failed, killed or interrupted build leaves the previous dataset as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pose_dataset.card import DATA_DIR, SPLITS, data_pattern, write_card
from pose_dataset.registry import SourceFormat
from pose_dataset.staging import staged

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
    fmt: SourceFormat,
    *,
    data_dir: str | Path | None = None,
    configs: Iterable[str] | None = None,
    num_proc: int | None = None,
    cache_dir: str | Path | None = None,
    max_shard_size: str | int = "500MB",
    overwrite: bool = False,
    overrides: dict[str, Any] | None = None,
) -> dict[str, dict]:
    """Build ``configs`` (default: the format's default) of the data in ``data_dir`` into ``output``; returns each
    config's build report.

    Args:
        data_dir: the source folder; None lets the format download its release.
        num_proc: worker processes for image decoding (``datasets``' own sharded generation).
        cache_dir: ``datasets`` cache (holds downloaded archives with ``data_dir=None``).
        overwrite: replace a non-empty ``output`` that is not a dataset folder this project wrote, and drop the
            configs of a folder that were built from another source.
        overrides: config fields applied to every config built.
    """
    reports = {}
    configs = list(configs or [fmt.default_config])
    data = None if data_dir is None else Path(data_dir).expanduser()
    with staged(output, overwrite=overwrite) as stage:
        (stage / REPORTS_DIR).mkdir(exist_ok=True)
        if data is not None:  # known before any work; a download is checked once it is read
            _one_source(stage, fmt.source(data), configs, overwrite)
        for name in configs:
            reports[name] = _build_config(stage, fmt, name, data, cache_dir, num_proc, max_shard_size, overrides or {})
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
    fmt: SourceFormat,
    name: str,
    data_dir: Path | None,
    cache_dir: str | Path | None,
    num_proc: int | None,
    max_shard_size: str | int,
    overrides: dict[str, Any],
) -> dict:
    """Prepare one config into ``stage`` (data/<name>/ and reports/<name>.json); an empty split is an error."""
    with tempfile.TemporaryDirectory(prefix=f".build-{name}-", dir=stage) as tmp:
        cache = None if cache_dir is None else Path(cache_dir)
        read = fmt.read(name, data_dir, Path(tmp) / "work", cache, overrides)
        prepared = Path(tmp) / "prepared"
        read.builder.download_and_prepare(
            output_dir=str(prepared), file_format="parquet", num_proc=num_proc, max_shard_size=max_shard_size
        )
        report = read.report()
        check_splits(name, report)
        target = stage / DATA_DIR / name
        shutil.rmtree(target, ignore_errors=True)  # the previous build's links, inside the stage only
        target.mkdir(parents=True)
        files = _move_shards(prepared, target, read.builder.dataset_name)
    report["config"] = name
    report["files"] = files
    report["dataset_info"] = read.builder.info._to_yaml_dict()
    report["format"] = fmt.name
    report["keypoints"] = read.spec.to_dict()
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


def split_sizes(folder: str | Path, config: str) -> dict[str, int]:
    """Rows per split counted from the parquet footers (no image is decoded)."""
    folder = Path(folder)
    sizes = {}
    for split in SPLITS:
        files = sorted(folder.glob(data_pattern(config, split)))
        sizes[split] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return sizes
