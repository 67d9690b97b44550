"""A saved tiny model folder and helpers shared by the predictor, CLI and Hub tests (no training, no network)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from blip_pose.geometry import Preprocessing
from blip_pose.presets import save_preset

#: The bundled MPII-format sample photos (committed with mpii_pose_dataset).
SAMPLE_IMAGES = sorted((Path(__file__).resolve().parents[1] / "mpii_pose_dataset" / "sample" / "images").glob("*.jpg"))
#: Short generations keep the tests fast; the random model's captions are garbage either way.
MAX_NEW_TOKENS = 12


def save_tiny_model(folder: Path, preprocessing: Preprocessing | None = Preprocessing()) -> Path:
    """The tiny preset saved like a training output (``preprocessing.json`` unless None)."""
    save_preset("tiny", folder)
    config_path = folder / "generation_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "max_new_tokens": MAX_NEW_TOKENS}))
    if preprocessing is not None:
        preprocessing.save(folder)
    return folder


def copy_model(source: Path, target: Path, preprocessing: Preprocessing | None) -> Path:
    """A copy of a saved model folder with a different (or no) preprocessing record."""
    shutil.copytree(source, target)
    (target / "preprocessing.json").unlink(missing_ok=True)
    if preprocessing is not None:
        preprocessing.save(target)
    return target


def as_hub_cache(folder: Path, cache_dir: Path, repo_id: str, commit: str = "0" * 40) -> Path:
    """Lay ``folder`` out as huggingface_hub's cache of ``repo_id`` (what a download leaves), for offline loading."""
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    return cache_dir


def drawn_image(path: Path, size: tuple[int, int] = (160, 96), mode: str = "RGB", seed: int = 0) -> Path:
    """A random-noise image of ``size`` saved at ``path`` in ``mode`` (format from the suffix)."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode).save(path)
    return path
