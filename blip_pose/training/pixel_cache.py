"""An optional cache of model-ready pixels: images decoded, resized and normalised once, not at every epoch.

For a small model, decoding a JPEG and running BLIP's image processor is a large share of a training step (30 % of
a tiny-preset step). ``--pixel_cache true`` maps each split once to a ``pixel_values`` column with ``datasets``;
the map's fingerprint is the split's fingerprint plus the image processor's settings, so ``datasets`` writes the
arrays next to the split's own cache files and a later run (or epoch) with the same processor reuses them, while a
different image size or normalisation makes a new cache. The collator uses ``pixel_values`` when a row has them.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from datasets import Array3D, Dataset
from transformers import BaseImageProcessor

PIXELS = "pixel_values"


def processor_key(image_processor: BaseImageProcessor) -> str:
    """A short hash of the settings that decide the pixels (size, resampling, rescale, mean, std...)."""
    settings = json.dumps(image_processor.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(settings.encode()).hexdigest()[:16]


def cache_pixels(
    data: Dataset, image_processor: BaseImageProcessor, image_column: str = "image", batch_size: int = 32
) -> Dataset:
    """``data`` with a float32 ``pixel_values`` column (3, H, W) in torch format, computed once per processor."""

    def pixels(batch: dict) -> dict:
        images = [image.convert("RGB") for image in batch[image_column]]
        return {PIXELS: list(image_processor(images, return_tensors="np")[PIXELS].astype(np.float32))}

    size = image_processor(np.zeros((8, 8, 3), dtype=np.uint8), return_tensors="np")[PIXELS].shape[1:]
    fingerprint = hashlib.sha256(f"{data._fingerprint}-{processor_key(image_processor)}".encode()).hexdigest()[:16]
    features = data.features.copy()
    features[PIXELS] = Array3D(shape=tuple(int(v) for v in size), dtype="float32")
    cached = data.map(
        pixels,
        batched=True,
        batch_size=batch_size,
        features=features,
        new_fingerprint=fingerprint,
        desc="pixel cache",
    )
    return cached.with_format("torch", columns=[PIXELS], output_all_columns=True)


def model_inputs(
    data: Dataset, caption_column: str, image_column: str, image_processor: BaseImageProcessor, pixel_cache: bool
) -> Dataset:
    """The columns the collator reads: caption and image, or caption and cached pixels (no image decode at all)."""
    if not pixel_cache:
        return data.select_columns([caption_column, image_column])
    return cache_pixels(
        data.select_columns([caption_column, image_column]), image_processor, image_column
    ).select_columns([caption_column, PIXELS])
