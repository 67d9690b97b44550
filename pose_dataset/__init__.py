"""The generic dataset build core: source formats and offline names (registries), staging with an atomic swap,
clean stop on signals, the Hub layout (parquet + dataset card with recipe, source and keypoint set), the push.

Arrows: a format package (``mpii_pose_dataset``) -> ``pose_dataset`` -> ``blip_pose``; ``blip_pose`` imports
neither. See ARCHITECTURE.md, "Where to add a source format".
"""

from pose_dataset.registry import (
    CardText,
    SourceFormat,
    SourceRead,
    get_source,
    register_offline,
    register_source,
    resolve_dataset,
)

__all__ = [
    "CardText",
    "SourceFormat",
    "SourceRead",
    "get_source",
    "register_offline",
    "register_source",
    "resolve_dataset",
]
