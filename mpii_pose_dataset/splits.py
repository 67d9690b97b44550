"""Train/validation assignment: by image (the paper's random 80/20) or by video (no frame of one video on both sides).

MPII images are frames of YouTube videos, often several from the same video; a random image split puts
near-duplicates on both sides, which inflates validation scores. Grouping by ``vididx`` avoids that. An image
without a video index is its own group (it cannot be matched to any other frame).

Groups are shuffled with a seeded generator and moved to validation until the validation share reaches
``ratio`` of the examples; with one example per group (the paper) this is exactly ``round(ratio * n)``, with videos
it overshoots by at most one video. Both sides are kept non-empty.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np

SPLIT_BY = ("image", "video")


def group_key(split_by: str, mpii_index: int, video_index: int | None) -> Hashable:
    """The unit that must stay on one side of the split."""
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    if split_by == "video" and video_index is not None:
        return ("video", video_index)
    return ("image", mpii_index)


def validation_groups(groups: Iterable[tuple[Hashable, int]], ratio: float, seed: int) -> set[Hashable]:
    """The groups that go to validation.

    Args:
        groups: ``(group key, number of examples)`` pairs; a key may repeat (its counts add up).
        ratio: wanted share of examples in validation, in (0, 1).
        seed: seed of the shuffle; the same groups and seed always give the same split.
    """
    if not 0 < ratio < 1:
        raise ValueError(f"validation_ratio must be between 0 and 1 (exclusive), got {ratio}")
    weights: dict[Hashable, int] = {}
    for key, n in groups:
        weights[key] = weights.get(key, 0) + n
    if len(weights) < 2:
        raise ValueError(
            f"cannot make a train and a validation split from {len(weights)} group(s) "
            "(images, or videos for video splits): the source has too few usable examples"
        )
    keys = sorted(weights, key=repr)  # a stable order independent of the input order
    order = np.random.default_rng(seed).permutation(len(keys))
    total = sum(weights.values())
    target = min(max(1, round(ratio * total)), total - 1)
    chosen: set[Hashable] = set()
    count = 0
    for i in order:
        if count >= target:
            break
        if len(chosen) == len(keys) - 1:
            break  # keep at least one group for training
        chosen.add(keys[i])
        count += weights[keys[i]]
    return chosen
