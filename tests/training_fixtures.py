"""A small pose-caption DatasetDict with the builder's columns, for the training tests.

Stick figures drawn at random poses on distinct backgrounds: each image shows its own joints, so a model can
learn (or memorise) its caption.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from datasets import Dataset, DatasetDict, DatasetInfo, Features, Image, List, Value
from PIL import Image as PILImage

from blip_pose.keypoints.mpii import MPII16
from blip_pose.overlay import draw_pose
from blip_pose.pose_format import CAPTION_COLUMNS, render_captions

ROOT = Path(__file__).resolve().parents[1]
SIZE = 384


def load_script(name: str) -> ModuleType:
    """``training/<name>.py`` imported as a module (entry scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "training" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


run = load_script("run")
FEATURES = Features(
    {
        "image": Image(),
        "image_name": Value("string"),
        "joint_points": List(List(Value("float32"), length=3), length=MPII16.num_keypoints),
        **{c: Value("string") for c in CAPTION_COLUMNS},
        "width": Value("int32"),
        "height": Value("int32"),
        "head_box": List(Value("float32"), length=4),
    }
)


def _rows(n: int, rng: np.random.Generator, prefix: str) -> dict[str, list]:
    rows: dict[str, list] = {name: [] for name in FEATURES}
    for i in range(n):
        xy = rng.uniform(24, SIZE - 24, size=(MPII16.num_keypoints, 2)).round()
        visible = np.ones(MPII16.num_keypoints, dtype=int)
        background = tuple(int(v) for v in rng.integers(0, 200, 3))
        image = draw_pose(PILImage.new("RGB", (SIZE, SIZE), background), xy, names=False)
        rows["image"].append(image)
        rows["image_name"].append(f"{prefix}{i:03d}.jpg")
        rows["joint_points"].append(np.concatenate([xy, visible[:, None]], axis=1).tolist())
        for column, caption in render_captions(xy, visible, SIZE, SIZE).items():
            rows[column].append(caption)
        rows["width"].append(SIZE)
        rows["height"].append(SIZE)
        head = xy[9]
        rows["head_box"].append([head[0] - 20, head[1] - 20, head[0] + 20, head[1] + 20])
    return rows


def make_pose_dataset(n_train: int, n_eval: int, seed: int = 0, eval_is_train: bool = False) -> DatasetDict:
    """``train`` and ``validation`` splits; ``eval_is_train`` makes validation the first ``n_eval`` train rows."""
    rng = np.random.default_rng(seed)
    info = DatasetInfo(config_name="paper", features=FEATURES)
    train = Dataset.from_dict(_rows(n_train, rng, "train"), features=FEATURES, info=info)
    if eval_is_train:
        validation = train.select(range(n_eval))
    else:
        validation = Dataset.from_dict(_rows(n_eval, rng, "val"), features=FEATURES, info=info)
    return DatasetDict(train=train, validation=validation)


def sample_dataset(folder: Path, n_train: int | None = None, eval_is_train: bool = False) -> Path:
    """The bundled sample built by the project's builder, saved to ``folder`` (optionally cut / eval = train)."""
    from datasets import load_dataset

    from pose_dataset import resolve_dataset

    built = resolve_dataset("sample", "paper", folder.parent / f"{folder.name}-built")
    ds = load_dataset(built, "paper")
    if n_train is not None:
        ds["train"] = ds["train"].select(range(n_train))
    if eval_is_train:
        ds["validation"] = ds["train"]
    ds.save_to_disk(str(folder))
    return folder
