"""Loading the pose-caption dataset and refusing bad input before training starts.

Every check here raises :class:`DataError` with the dataset, split, column or image it is about: a missing
caption column, an empty split, an undecodable image or a caption the tokenizer would truncate must stop the
run up front, not at step 5,000 or as a silently wrong label.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, Image, load_dataset, load_from_disk
from transformers import PreTrainedTokenizerBase

from blip_pose.dataset_source import card_entry, recorded_source
from blip_pose.geometry import PREPROCESSING_CARD_KEY, Preprocessing, head_box_ok
from blip_pose.images import ImageError, open_image
from blip_pose.keypoints import DEFAULT_SPEC, KEYPOINTS_CARD_KEY, KeypointSpec
from blip_pose.keypoints.saved import card_spec
from blip_pose.pose_format import CAPTION_COLUMNS, COORDINATE_COLUMNS, DEFAULT_LOC_VOCABULARY, LocVocabulary
from blip_pose.pose_metrics import parse_captions
from blip_pose.training.arguments import DataArguments

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """The dataset cannot be trained on; the message names the split, column or image."""


def load_pose_dataset(name: str, config_name: str | None, cache_dir: str | None = None) -> DatasetDict:
    """A Hub id or a built folder (``load_dataset`` layout or ``save_to_disk``)."""
    path = Path(name)
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        check_saved_splits(path)
        return load_from_disk(str(path))
    try:
        return load_dataset(name, config_name, cache_dir=cache_dir)
    except FileNotFoundError as err:
        raise DataError(f"dataset {name!r} is neither a local folder nor reachable on the Hub: {err}") from None
    except ValueError as err:
        # datasets' wording for a split whose files hold no rows.
        empty = re.search(r'Instruction "([^"]+)" corresponds to no data', str(err))
        if empty:
            raise DataError(f"dataset {name!r}: split {empty.group(1)!r} is empty") from None
        raise


def check_saved_splits(folder: Path) -> None:
    """A ``save_to_disk`` folder whose every split has rows: ``load_from_disk`` fails on an empty split with an
    IndexError that names nothing."""
    for split in _saved_json(folder / "dataset_dict.json").get("splits", []):
        if not _saved_json(folder / split / "state.json").get("_data_files"):
            raise DataError(f"dataset {folder}: split {split!r} is empty (saved with 0 rows)")


def _saved_json(path: Path) -> dict:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as err:
        raise DataError(f"dataset file {path} cannot be read: {err}") from None


def check_split(
    ds: DatasetDict, split: str, caption_column: str, image_column: str, limit: int | None = None, limit_name: str = ""
) -> Dataset:
    """The split's first ``limit`` rows, after checking that they exist and have the image and caption columns."""
    if split not in ds:
        raise DataError(f"dataset has no split {split!r}; splits: {', '.join(ds)}")
    data = ds[split] if limit is None else ds[split].select(range(min(limit, len(ds[split]))))
    if len(data) == 0:
        after = f" (after {limit_name}={limit})" if len(ds[split]) else ""
        raise DataError(f"split {split!r} is empty{after}")
    for column in (caption_column, image_column):
        if column not in data.column_names:
            raise DataError(f"split {split!r} has no column {column!r}; columns: {', '.join(data.column_names)}")
    check_caption_column(caption_column)
    if not isinstance(data.features[image_column], Image):
        raise DataError(f"column {image_column!r} of split {split!r} is not an image column")
    return data


def check_caption_column(caption_column: str) -> None:
    """A caption column with joint coordinates to score (checked before any data is loaded, and again per split)."""
    if caption_column not in COORDINATE_COLUMNS:
        raise DataError(
            f"caption column {caption_column!r} has no joint coordinates to score; "
            f"use one of {list(COORDINATE_COLUMNS)}"
        )


def check_captions(
    data: Dataset,
    split: str,
    caption_column: str,
    tokenizer: PreTrainedTokenizerBase,
    max_tokens: int,
    loc: LocVocabulary = DEFAULT_LOC_VOCABULARY,
) -> int:
    """Every caption is a non-empty string of at most ``max_tokens`` tokens (BOS and SEP included), counted as the
    model writes it (``loc``: its loc tokens).

    Returns the longest caption's token count, which bounds how long generation needs to run.
    """
    captions = list(data[caption_column])
    for i, caption in enumerate(captions):
        if not isinstance(caption, str) or not caption.strip():
            raise DataError(f"split {split!r}, row {i} ({_row_name(data, i)}): empty caption in {caption_column!r}")
    lengths = np.array([len(ids) for ids in tokenizer([loc.encode(c) for c in captions])["input_ids"]])
    if (lengths > max_tokens).any():
        i = int(np.argmax(lengths))
        raise DataError(
            f"split {split!r}, row {i} ({_row_name(data, i)}): caption has {lengths[i]} tokens, more than "
            f"max_caption_tokens={max_tokens}; raise it (and the model's position embeddings) or shorten captions"
        )
    return int(lengths.max())


def check_images(data: Dataset, split: str, image_column: str, batch_size: int = 256) -> None:
    """Decode every image (JPEG draft mode keeps this fast); the first bad one is an error naming it."""
    raw = data.cast_column(image_column, Image(decode=False)).select_columns([image_column])
    for start, batch in enumerate(raw.iter(batch_size=batch_size)):
        for offset, image in enumerate(batch[image_column]):
            row = start * batch_size + offset
            source = image["bytes"] if image["bytes"] is not None else image["path"]
            try:
                open_image(source, name=_row_name(data, row), draft_size=(64, 64))
            except ImageError as err:
                raise DataError(f"split {split!r}, row {row}: undecodable image: {err}") from None


def _row_name(data: Dataset, row: int) -> str:
    if "image_name" in data.column_names:
        return str(data.select_columns(["image_name"])[row]["image_name"])  # no image decode
    return f"row {row}"


def recorded_preprocessing(
    dataset_name: str, config_name: str, spec: KeypointSpec = DEFAULT_SPEC
) -> Preprocessing | None:
    """The recipe the dataset's builder wrote into its card's YAML (a local folder or a Hub id alike).

    None when the dataset has no card or its card has no recipe for ``config_name`` (a dataset this project did not
    build, or a ``save_to_disk`` folder). ``spec``: the dataset's keypoint set, whose default simple joints a recipe
    without them gets.
    """
    recipe = card_entry(dataset_name, PREPROCESSING_CARD_KEY, config_name)
    return Preprocessing.from_recipe(recipe, spec) if isinstance(recipe, dict) else None


def dataset_source(data: Dataset, dataset_name: str) -> dict | None:
    """The source (MPII release, bundled sample, synthetic generator) the dataset's card records for the config of
    ``data``, for ``run_config.json``: what makes a run on a synthetic folder say "synthetic"."""
    return recorded_source(dataset_name, data.info.config_name or "default")


def dataset_keypoints(data: Dataset, dataset_name: str) -> KeypointSpec:
    """The keypoint set the dataset's card records for the config of ``data`` (``pose_keypoints``, which the
    builder writes); MPII-16 for a dataset whose card records none (built before keypoint sets were recorded)."""
    config = data.info.config_name or "default"
    try:
        return card_spec(card_entry(dataset_name, KEYPOINTS_CARD_KEY, config), f"dataset {dataset_name!r} card")
    except ValueError as err:
        raise DataError(str(err)) from None


def preprocessing_record(
    data: Dataset, dataset_name: str, image_column: str = "image", spec: KeypointSpec = DEFAULT_SPEC
) -> Preprocessing:
    """How the dataset's images were made, for ``preprocessing.json``: the recipe recorded in the dataset itself
    (simple joints, when it records none: the default subset of the dataset's keypoint set ``spec``).

    A dataset without a recipe is taken as whole images resized to their own size, with a warning.
    """
    config = data.info.config_name or "default"
    recorded = recorded_preprocessing(dataset_name, config, spec)
    if recorded is not None:
        return recorded
    size = int(data[0]["width"]) if "width" in data.column_names else data[0][image_column].width
    logger.warning(
        "dataset %r (config %r) records no preprocessing recipe in its card: recording whole images resized to %d px",
        dataset_name,
        config,
        size,
    )
    return Preprocessing("resize", size, simple_joints=spec.default_simple_joints)


def checked_splits(
    dataset: DatasetDict,
    data_args: DataArguments,
    tokenizer: PreTrainedTokenizerBase,
    max_tokens: int,
    loc: LocVocabulary = DEFAULT_LOC_VOCABULARY,
) -> tuple[Dataset, Dataset, int]:
    """``(train, eval, longest caption in tokens)`` after every check above (images only when asked)."""
    columns = (data_args.caption_column, data_args.image_column)
    train = check_split(dataset, data_args.train_split, *columns, data_args.max_train_samples, "max_train_samples")
    evals = check_split(dataset, data_args.eval_split, *columns, data_args.max_eval_samples, "max_eval_samples")
    longest = 0
    for name, split in ((data_args.train_split, train), (data_args.eval_split, evals)):
        longest = max(longest, check_captions(split, name, data_args.caption_column, tokenizer, max_tokens, loc))
        if data_args.validate_images:
            check_images(split, name, data_args.image_column)
    return train, evals, longest


@dataclass
class References:
    """What compute_metrics needs about the evaluation split, in row order (no images)."""

    names: list[str]
    captions: list[str]
    xy: np.ndarray  # (N, K, 2) reference joints in pixels, NaN where the caption has no joint
    found: np.ndarray  # (N, K) bool
    sizes: np.ndarray  # (N, 2) width, height of the processed image
    head_boxes: np.ndarray | None  # (N, 4) x0, y0, x1, y1 in processed pixels, for PCKh
    crop_boxes: np.ndarray | None  # (N, 4) where each processed image lies in its original, to score PCKh there
    spec: KeypointSpec = DEFAULT_SPEC  # the keypoint set the captions name
    # Per row, the person's COCO annotation in the original image (a COCO-built split: ``coco_pose_dataset``), for
    # COCO keypoint AP/AR and the person-box PCK; None for other datasets.
    coco: list[dict] | None = None
    # Whether the split was built from MPII's standard protocol: its evaluation adds the literature's PCKh table
    # (``blip_pose.dataset_source.reports_pckh_table`` of the recorded source decides).
    pckh_table: bool = False


def check_head_boxes(boxes: np.ndarray, names: list[str], split: str | None = None) -> None:
    """Every head box has a positive width and height: PCKh divides by the head size, and a zero or inverted box
    (x2 <= x1 or y2 <= y1) would stop training at its first evaluation rather than here."""
    bad = np.flatnonzero(~head_box_ok(boxes))
    if bad.size:
        i = int(bad[0])
        where = "" if split is None else f"split {split!r}, "
        raise DataError(
            f"{where}row {i} ({names[i]}): head_box {boxes[i].tolist()} has no positive width and height "
            f"(x1 < x2 and y1 < y2 needed for PCKh); {bad.size} row(s) like it: rebuild the dataset"
        )


def references(
    data: Dataset,
    caption_column: str,
    image_column: str,
    split: str | None = None,
    spec: KeypointSpec = DEFAULT_SPEC,
    pckh_table: bool = False,
) -> References:
    """The split's references; a ``head_box`` column that is NaN in every row (the standard protocol's training
    file has no head boxes) means no head boxes, one NaN or bad box among others is an error."""
    columns = data.column_names
    captions = list(data[caption_column])
    if "width" in columns and "height" in columns:
        sizes = np.stack([list(data["width"]), list(data["height"])], axis=1).astype(np.float64)
    elif CAPTION_COLUMNS[caption_column].format.unit == "fraction":
        raise DataError("normalized captions need the image size: columns 'width' and 'height' are missing")
    else:
        sizes = np.array([image.size for image in data[image_column]], dtype=np.float64)
    names = list(data["image_name"]) if "image_name" in columns else [f"row-{i}" for i in range(len(data))]
    xy, found = parse_captions(captions, caption_column, sizes, what="references", spec=spec)
    empty = np.flatnonzero(~found.any(axis=1))
    if empty.size:
        raise DataError(f"reference caption of {names[empty[0]]!r} has no joint that the caption parser can read")
    head_boxes = np.asarray(list(data["head_box"]), dtype=np.float64) if "head_box" in columns else None
    if head_boxes is not None and np.isnan(head_boxes).all():
        head_boxes = None
    if head_boxes is not None:
        check_head_boxes(head_boxes, names, split)
    crop_boxes = np.asarray(list(data["crop_box"]), dtype=np.float64) if "crop_box" in columns else None
    coco = None
    if {"coco_keypoints", "person_box", "image_id", "area"} <= set(columns) and crop_boxes is not None:
        coco = [
            {"image_id": i, "bbox": box, "keypoints": points, "area": area}
            for i, box, points, area in zip(data["image_id"], data["person_box"], data["coco_keypoints"], data["area"])
        ]
    return References(names, captions, xy, found, sizes, head_boxes, crop_boxes, spec, coco, pckh_table)
