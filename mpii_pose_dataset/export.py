"""Build MPII-format releases into the Hub layout through the build core (:mod:`pose_dataset.export`), and say
what a build did in a few terminal lines."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mpii_pose_dataset.examples import SELECTION_RULES
from mpii_pose_dataset.source_format import MPII
from pose_dataset import export


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
    return export.build(
        output,
        MPII,
        data_dir=data_dir,
        configs=configs,
        num_proc=num_proc,
        cache_dir=cache_dir,
        max_shard_size=max_shard_size,
        overwrite=overwrite,
        overrides=overrides,
    )


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
