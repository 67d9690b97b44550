"""Where a built dataset came from, as its card records it: the one place that names the card key and reads it.

``mpii_pose_dataset`` writes, per config, ``{DATASET_SOURCE_CARD_KEY: {config: source}}`` into the dataset card's
YAML (beside the preprocessing recipe, :data:`blip_pose.geometry.PREPROCESSING_CARD_KEY`); training copies the
entry into ``run_config.json``, and the run's summary, plots and model card say "synthetic" from it, so a synthetic
folder trained on by path is never taken for MPII photos. ``blip_pose`` never imports ``mpii_pose_dataset``: the
builder imports the names below.

A source is a dict: ``kind`` (one of :data:`SOURCE_KINDS`), ``annotation_file`` (the ``.mat`` name),
``annotation_sha256`` (its content hash: two builds from the same file have the same one), and for ``synthetic``
the ``generator``, ``seed`` and ``frames`` it was drawn with (a ``coco`` source drawn by ``coco_pose_dataset.synthetic``
says so with ``synthetic: true`` and the same keys).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard
from huggingface_hub.errors import HfHubHTTPError

logger = logging.getLogger(__name__)

DATASET_SOURCE_CARD_KEY = "pose_dataset_source"
#: ``mpii``: an MPII-format release (the real one or any other file); ``sample``: the bundled sample;
#: ``synthetic``: procedural people drawn by the generator; ``coco``: a COCO-keypoints file (``coco_pose_dataset``);
#: ``mpii_standard``: MPII's standard protocol files (``mpii_train.json`` / ``mpii_val.json``).
STANDARD_KIND = "mpii_standard"
SOURCE_KINDS = ("mpii", "sample", "synthetic", "coco", STANDARD_KIND)
#: Kinds whose images are stick figures, not photos: results on them must say so wherever they are shown.
SYNTHETIC_KINDS = frozenset({"sample", "synthetic"})


def card_entry(dataset_name: str, key: str, config_name: str) -> Any:
    """``card.yaml[key][config_name]`` of a dataset (local folder or Hub id); None when there is no card or entry."""
    path = Path(dataset_name)
    source: str | Path = dataset_name
    if path.is_dir():
        source = path / "README.md"
        if not source.is_file():
            return None
    try:
        card = DatasetCard.load(source)
    except (OSError, HfHubHTTPError, ValueError) as err:  # offline, no README on the Hub, unreadable YAML
        logger.warning("dataset %r: cannot read its card (%s)", dataset_name, err)
        return None
    entries = card.data.to_dict().get(key)
    return entries.get(config_name) if isinstance(entries, dict) else None


def recorded_source(dataset_name: str, config_name: str) -> dict[str, Any] | None:
    """The source the dataset's card records for ``config_name``, or None (not built by this project)."""
    source = card_entry(dataset_name, DATASET_SOURCE_CARD_KEY, config_name)
    return source if isinstance(source, dict) and source.get("kind") in SOURCE_KINDS else None


def reports_pckh_table(source: dict[str, Any] | None) -> bool:
    """Whether a split's evaluation adds the literature's PCKh table (:mod:`blip_pose.pckh_table`): a split built
    from MPII's standard protocol, the one the table's numbers are published on."""
    return source is not None and source.get("kind") == STANDARD_KIND


def synthetic_note(source: dict[str, Any] | None) -> str | None:
    """What the data is when a recorded source is synthetic (None for MPII-format releases and unknown sources)."""
    if source and source.get("kind") == STANDARD_KIND and source.get("synthetic"):
        return (
            "the bundled synthetic sample of mpii_pose_dataset written as MPII's standard-protocol files "
            "(stick figures, not MPII photos)"
        )
    if source and source.get("kind") == "coco" and source.get("synthetic"):
        return (
            f"synthetic COCO-format pictures ({source.get('frames', '?')} drawn by {source.get('generator')}, seed "
            f"{source.get('seed', '?')}), not photos"
        )
    if not source or source.get("kind") not in SYNTHETIC_KINDS:
        return None
    if source["kind"] == "sample":
        return "the bundled synthetic sample of mpii_pose_dataset (stick figures, not MPII photos)"
    frames, seed = source.get("frames", "?"), source.get("seed", "?")
    return (
        f"synthetic stick figures ({frames} procedural frames, seed {seed}; validation on held-out figures), "
        "not MPII photos"
    )


#: Frames a synthetic dataset may have. Fewer than the minimum can leave a split without a usable frame (videos of
#: 1-5 frames, some multi-person or partly out of frame; 50 frames are at least 10 videos); the maximum bounds a
#: build's cost: the generator holds ~17 KB of annotation per frame in memory while it writes the .mat and ~13 KB of
#: JPEG per frame on disk (100,000 frames: ~1.7 GB memory, ~1.3 GB disk, ~25 min of drawing on one core; MPII
#: itself has ~25,000 images).
SYNTHETIC_FRAMES_MIN, SYNTHETIC_FRAMES_MAX = 50, 100_000
_SYNTHETIC_FRAMES_WHY = (
    "fewer can leave a split empty, more would need ~17 KB of memory and ~13 KB of disk per frame "
    "(1.7 GB and 1.3 GB at the limit)"
)
SYNTHETIC_FRAMES_HELP = f"{SYNTHETIC_FRAMES_MIN}..{SYNTHETIC_FRAMES_MAX} frames: {_SYNTHETIC_FRAMES_WHY}"


def check_synthetic_frames(n: int, flag: str, minimum: int = SYNTHETIC_FRAMES_MIN) -> None:
    """Refuse a frame count outside ``minimum..SYNTHETIC_FRAMES_MAX`` with a one-line ValueError naming ``flag``
    and why, before anything is drawn."""
    if isinstance(n, bool) or not isinstance(n, int) or not minimum <= n <= SYNTHETIC_FRAMES_MAX:
        raise ValueError(
            f"{flag} must be {minimum}..{SYNTHETIC_FRAMES_MAX} frames, got {n!r}"
            + (f" ({_SYNTHETIC_FRAMES_WHY})" if minimum == SYNTHETIC_FRAMES_MIN else "")
        )
