"""Source formats and offline dataset names: the two registries the build core and the training scripts ask.

A source format (MPII's ``.mat`` today) is one module that defines a :class:`SourceFormat` and calls
:func:`register_source`; an offline dataset name (``sample``, ``synthetic``) is one :func:`register_offline` call
with the function that builds it. The project's own formats are listed in :data:`BUILT_IN` by module path and
imported on the first lookup that misses, so ``pose_dataset`` imports no format package when it is imported, and
``blip_pose`` imports neither (the training scripts pass :func:`resolve_dataset` to it).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import datasets

from blip_pose.keypoints import KeypointSpec

#: Modules that register the project's own source formats and offline names when imported.
BUILT_IN = (
    "mpii_pose_dataset.source_format",
    "mpii_pose_dataset.offline",
    "mpii_pose_dataset.standard_source",
    "coco_pose_dataset.source_format",
)
#: The format of a build report written before reports named theirs (every such folder is MPII).
LEGACY_FORMAT = "mpii"


@dataclass
class SourceRead:
    """One config of a source, ready to prepare: the core runs ``builder.download_and_prepare`` (parquet, sharded
    over ``num_proc`` workers), then asks ``report()`` for the build report (``examples`` and ``skipped`` per
    split/reason, ``unit``, ``recipe``, ``source``, ``selection``; no local paths)."""

    builder: datasets.DatasetBuilder
    spec: KeypointSpec  # the keypoint set of every example's ``joint_points`` and captions
    report: Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class CardText:
    """A format's words on the dataset card: ``DatasetCardData`` fields (title, license, tags) and the body."""

    metadata: dict[str, Any]
    body: str


class SourceFormat(Protocol):
    """A way of reading annotated images into pose-caption examples (one module per format)."""

    name: str  # the registry key; recorded as ``format`` in every build report
    configs: tuple[str, ...]  # the config names it builds
    default_config: str  # what ``load_dataset(folder)`` loads when built

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The ``build`` command's options this format adds."""

    def source(self, data_dir: Path) -> dict[str, Any]:
        """The card's source record of ``data_dir`` (kind, file name, sha256): known before any work."""

    def read(
        self, config: str, data_dir: Path | None, work_dir: Path, cache_dir: Path | None, overrides: dict[str, Any]
    ) -> SourceRead:
        """Config ``config`` of the data in ``data_dir`` (None: the format's download), scratch in ``work_dir``."""

    def card(self, reports: dict[str, dict]) -> CardText:
        """The card's metadata and body for the configs in ``reports``."""


_FORMATS: dict[str, SourceFormat] = {}
#: ``(config_name, work_dir, synthetic_size, synthetic_seed) -> a folder load_dataset reads``, by dataset name.
OfflineBuilder = Callable[[str | None, Path, int, int], str]
_OFFLINE: dict[str, OfflineBuilder] = {}


def _load_built_in() -> None:
    for module in BUILT_IN:
        importlib.import_module(module)


def register_source(fmt: SourceFormat, replace: bool = False) -> SourceFormat:
    """Make ``fmt`` known by its name (build reports record it, so pushes and card rewrites find it again)."""
    if fmt.name in _FORMATS and _FORMATS[fmt.name] is not fmt and not replace:
        raise ValueError(f"another source format is registered as {fmt.name!r}")
    _FORMATS[fmt.name] = fmt
    return fmt


def get_source(name: str) -> SourceFormat:
    if name not in _FORMATS:
        _load_built_in()
    if name not in _FORMATS:
        raise ValueError(f"unknown source format {name!r}; known: {', '.join(sorted(_FORMATS))}")
    return _FORMATS[name]


def format_of(reports: dict[str, dict]) -> SourceFormat:
    """The format a built folder's reports were written by (one folder holds one source, so one format)."""
    names = {report.get("format", LEGACY_FORMAT) for report in reports.values()}
    if len(names) != 1:
        raise ValueError(f"build reports of several source formats in one folder: {', '.join(sorted(names))}")
    return get_source(names.pop())


def register_offline(name: str, build: OfflineBuilder) -> None:
    """Make ``name`` a dataset that :func:`resolve_dataset` builds offline into the run's work folder."""
    _OFFLINE[name] = build


def resolve_dataset(
    name: str, config_name: str | None, work_dir: str | Path, synthetic_size: int = 0, synthetic_seed: int = 0
) -> str:
    """A name or folder that ``load_dataset`` reads: an offline name (``sample``, ``synthetic``) is built into
    ``work_dir`` by its registered builder (and reused once built); any other name (a Hub id or a built folder),
    and an existing folder of an offline name, comes back unchanged."""
    if Path(name).exists():
        return name
    if name not in _OFFLINE:
        _load_built_in()
    build = _OFFLINE.get(name)
    return name if build is None else build(config_name, Path(work_dir), synthetic_size, synthetic_seed)
