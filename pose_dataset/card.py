"""The dataset card (README.md) of a built folder: the YAML every source format shares, the body its format writes.

The YAML header is what makes the folder loadable: ``configs`` maps each config to its parquet files and
``dataset_info`` declares features and split sizes, both written with ``datasets``' own helpers so the header has
exactly the shape ``load_dataset`` and the Hub expect. Beside them, what training reads back: each config's
preprocessing recipe (:data:`~blip_pose.geometry.PREPROCESSING_CARD_KEY`), its source
(:data:`~blip_pose.dataset_source.DATASET_SOURCE_CARD_KEY`) and the folder's keypoint set
(:data:`~blip_pose.keypoints.KEYPOINTS_CARD_KEY`: per config, ``KeypointSpec.to_dict()``; absent from folders built
before it).
"""

from __future__ import annotations

from pathlib import Path

from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from blip_pose.dataset_source import DATASET_SOURCE_CARD_KEY
from blip_pose.geometry import PREPROCESSING_CARD_KEY
from blip_pose.keypoints import KEYPOINTS_CARD_KEY
from pose_dataset.registry import format_of

DATA_DIR = "data"
SPLITS: tuple[str, ...] = ("train", "validation")


def data_pattern(config: str, split: str) -> str:
    """The data_files pattern of one split of one config (relative to the dataset folder)."""
    return f"{DATA_DIR}/{config}/{split}-*.parquet"


def default_config(reports: dict[str, dict], preferred: str) -> str:
    """``preferred`` when built, else the first config by name (what ``load_dataset(folder)`` then loads)."""
    return preferred if preferred in reports else sorted(reports)[0]


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


def card_data(reports: dict[str, dict], metadata: dict) -> DatasetCardData:
    """YAML metadata: the format's fields, recipe/source/keypoints, configs -> data files, features and splits."""
    total = max(sum(r["examples"].values()) for r in reports.values())
    data = DatasetCardData(**metadata, size_categories=[size_category(total)])
    # How each config's images were made: training reads it to record the predictor's preprocessing.
    setattr(data, PREPROCESSING_CARD_KEY, {name: r["recipe"] for name, r in reports.items()})
    # What each config was built from: training reads it to say "synthetic" wherever its results show.
    setattr(data, DATASET_SOURCE_CARD_KEY, {name: r["source"] for name, r in reports.items() if r.get("source")})
    # Each config's keypoint set (``KeypointSpec.to_dict()``), keyed like the recipe: training reads it per config.
    keypoints = {name: r["keypoints"] for name, r in reports.items() if r.get("keypoints")}
    if keypoints:
        setattr(data, KEYPOINTS_CARD_KEY, keypoints)
    default = default_config(reports, format_of(reports).default_config)
    MetadataConfigs(
        {
            name: {
                "data_files": [{"split": s, "path": data_pattern(name, s)} for s in SPLITS],
                **({"default": True} if name == default else {}),
            }
            for name in reports
        }
    ).to_dataset_card_data(data)
    DatasetInfosDict(
        {name: DatasetInfo._from_yaml_dict(r["dataset_info"]) for name, r in reports.items()}
    ).to_dataset_card_data(data)
    return data


def write_card(folder: str | Path, reports: dict[str, dict]) -> Path:
    """Write ``folder/README.md`` for the configs in ``reports``, in the words of the format that built them."""
    text = format_of(reports).card(reports)
    card = DatasetCard(f"---\n{card_data(reports, text.metadata).to_yaml()}\n---\n{text.body}")
    path = Path(folder) / "README.md"
    card.save(path)
    return path
