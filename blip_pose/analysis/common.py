"""What the analyses share: model and split loading, batched generation with a progress bar, the output folder,
a titled grid of panels, and the JSON of every number a figure draws.

Dataset images are the model's input frames already (the builder made them with the run's preprocessing), so the
analyses generate on them directly and score in that frame, exactly as the training evaluation does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from PIL import Image, ImageDraw, ImageFont
from tqdm.auto import tqdm

from blip_pose.predictor import PosePredictor
from blip_pose.run_folder import ANALYSIS_DIR, RUN_CONFIG_FILE, RunFolder
from blip_pose.run_record import RESOLVED_DATASET_KEY, flatten_run_config, read_json
from blip_pose.training.data import References, check_split, dataset_keypoints, load_pose_dataset, references

IMAGE_COLUMN = "image"


def output_dir(out: str | None, model: str, command: str) -> Path:
    """``out``, or the default folder of ``command`` for ``model`` (created): ``<run folder>/analysis/<command>``,
    ``./analysis/<name>/<command>`` for a Hub id."""
    if out is None and Path(model).is_dir():
        folder = RunFolder(model).analysis(command)
    elif out is None:
        folder = Path(ANALYSIS_DIR) / model.replace("/", "--") / command
    else:
        folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_dataset(model: str) -> tuple[str, str | None]:
    """``(dataset, config)`` a local run (or checkpoint) folder trained on: the dataset training resolved and
    recorded in its ``run_config.json`` (a built folder or a Hub id), read back as it is."""
    folder = RunFolder(model)
    config = flatten_run_config(read_json(folder.run_config)) if folder.path.is_dir() else {}
    recorded = config.get(RESOLVED_DATASET_KEY)
    if not isinstance(recorded, dict) or not recorded.get("path"):
        raise ValueError(f"{model}: no {RUN_CONFIG_FILE} records the dataset it trained on; pass --dataset")
    path, config_name = str(recorded["path"]), recorded.get("config_name")
    if Path(path).is_absolute() and not Path(path).is_dir():
        raise ValueError(f"{model} trained on {path}, which is no longer there; pass --dataset")
    return path, config_name


@dataclass
class Split:
    """The rows of one split an analysis uses: input frames and the references scored against."""

    name: str
    data: Dataset
    frames: list[Image.Image]
    refs: References
    column: str


def load_split(dataset: str, config: str | None, split: str, column: str, limit: int | None = None) -> Split:
    """The first ``limit`` rows (all when None) of ``split``, checked like training checks its splits."""
    data = check_split(load_pose_dataset(dataset, config), split, column, IMAGE_COLUMN, limit, "--images")
    frames = [image.convert("RGB") for image in data[IMAGE_COLUMN]]
    refs = references(data, column, IMAGE_COLUMN, spec=dataset_keypoints(data, dataset))
    return Split(split, data, frames, refs, column)


def generate(predictor: PosePredictor, frames: Sequence[Image.Image], batch_size: int, desc: str) -> list[str]:
    """Captions of model-input frames, ``batch_size`` at a time, with a progress bar."""
    captions: list[str] = []
    for start in tqdm(range(0, len(frames), batch_size), desc=desc, unit="batch", leave=False):
        captions.extend(predictor.generate(list(frames[start : start + batch_size])))
    return captions


def points(xy: np.ndarray, found: np.ndarray) -> list[list[float] | None]:
    """(16, 2) joints as JSON: ``[x, y]`` rounded to 0.01 px, null where not found."""
    return [[round(float(x), 2), round(float(y), 2)] if ok else None for (x, y), ok in zip(xy, found)]


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """``data`` as indented JSON; NaN becomes null (JSON has no NaN)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, np.ndarray):
            return clean(value.tolist())
        if isinstance(value, (float, np.floating)):
            return None if not math.isfinite(float(value)) else float(value)
        if isinstance(value, np.integer):
            return int(value)
        return value

    path.write_text(json.dumps(clean(data), indent=1) + "\n", encoding="utf-8")
    return path


def fit(image: Image.Image, size: int) -> tuple[Image.Image, float]:
    """``image`` scaled so its longer side is ``size`` px, and the factor points scale by; overlays are drawn
    after scaling so that their labels have the same size in every panel."""
    factor = size / max(image.size)
    if factor == 1:
        return image, factor
    return image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor)))), factor


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def grid(
    cells: Sequence[Sequence[Image.Image | None]],
    column_titles: Sequence[str],
    row_titles: Sequence[str] | None = None,
    cell: int = 256,
) -> Image.Image:
    """Panels in rows and columns, each scaled to fit a ``cell`` px square, titled above and on the left.

    A None cell stays blank (e.g. an image without ground truth).
    """
    font_size = max(12, cell // 16)
    head = font_size * 2
    left = (max((len(t) for t in row_titles), default=0) * font_size * 3 // 5 + 12) if row_titles else 0
    out = Image.new("RGB", (left + cell * len(column_titles), head + cell * len(cells)), "white")
    draw = ImageDraw.Draw(out)
    font = _font(font_size)
    for c, title in enumerate(column_titles):
        draw.text((left + c * cell + cell // 2, head // 2), title, fill="black", font=font, anchor="mm")
    for r, row in enumerate(cells):
        if row_titles:
            draw.text((6, head + r * cell + cell // 2), row_titles[r], fill="black", font=font, anchor="lm")
        for c, image in enumerate(row):
            if image is None:
                continue
            scaled = fit(image, cell - 4)[0]
            x = left + c * cell + (cell - scaled.width) // 2
            y = head + r * cell + (cell - scaled.height) // 2
            out.paste(scaled, (x, y))
    return out


def tiles(images: Sequence[Image.Image], titles: Sequence[str], columns: int = 4, cell: int = 256) -> Image.Image:
    """Images in rows of ``columns``, each scaled to fit a ``cell`` px square under its own title."""
    font_size = max(12, cell // 16)
    head = font_size * 2
    rows = math.ceil(len(images) / columns)
    out = Image.new("RGB", (cell * min(columns, len(images)), (cell + head) * rows), "white")
    draw = ImageDraw.Draw(out)
    font = _font(font_size)
    for k, (image, title) in enumerate(zip(images, titles)):
        x, y = (k % columns) * cell, (k // columns) * (cell + head)
        draw.text((x + cell // 2, y + head // 2), title, fill="black", font=font, anchor="mm")
        scaled = fit(image, cell - 4)[0]
        out.paste(scaled, (x + (cell - scaled.width) // 2, y + head + (cell - scaled.height) // 2))
    return out
