"""Sample panels (the method's Figures 10 and 11): input | ground truth | prediction for images of a split, or
input | prediction for a folder of images without labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from blip_pose.analysis.common import Split, fit, generate, grid, points, write_json
from blip_pose.images import ImageError
from blip_pose.overlay import draw_pose
from blip_pose.pose_metrics import joint_errors, parse_captions
from blip_pose.predictor import PosePredictor, load_image


def split_panels(predictor: PosePredictor, split: Split, out: Path, batch_size: int = 8, cell: int = 320) -> list[Path]:
    """``panels.png`` (one row per image: input | ground truth | prediction) and ``panels.json``."""
    captions = generate(predictor, split.frames, batch_size, f"panels ({split.name})")
    refs = split.refs
    pred_xy, found = parse_captions(captions, split.column, refs.sizes, spec=refs.spec)
    rows, records = [], []
    for i, frame in enumerate(split.frames):
        shown, factor = fit(frame, cell)
        ref, pred = refs.xy[i] * factor, pred_xy[i] * factor
        written = np.flatnonzero(refs.found[i]).tolist()  # only the reference's joints can be missing
        rows.append(
            [
                shown,
                draw_pose(shown, ref, refs.found[i], label="ground truth", joints=written, spec=refs.spec),
                draw_pose(shown, pred, found[i], label="prediction", joints=written, spec=refs.spec),
            ]
        )
        errors = joint_errors(pred_xy[i], refs.xy[i])
        records.append(
            {
                "image_name": refs.names[i],
                "caption": captions[i],
                "reference": refs.captions[i],
                "prediction": points(pred_xy[i], found[i]),
                "ground_truth": points(refs.xy[i], refs.found[i]),
                "error_px": [None if not np.isfinite(e) else round(float(e), 2) for e in errors],
                "mean_error_px": float(np.nanmean(errors)) if np.isfinite(errors).any() else None,
            }
        )
    png = out / "panels.png"
    grid(rows, ["input", "ground truth", "prediction"], refs.names, cell).save(png)
    meta = {"split": split.name, "frame": "model input pixels", "caption_column": split.column}
    return [png, write_json(out / "panels.json", {**meta, "images": records})]


def folder_panels(
    predictor: PosePredictor, paths: Sequence[Path], out: Path, batch_size: int = 8, cell: int = 320
) -> list[Path]:
    """``panels.png`` (input | prediction, each image's own pixels) and ``panels.json``; unreadable files are
    skipped and listed."""
    images: list[Image.Image] = []
    names: list[str] = []
    skipped: list[str] = []
    for path in paths:
        try:
            images.append(load_image(path)[0])
            names.append(str(path))
        except ImageError as err:
            skipped.append(str(err))
    if not images:
        raise ValueError(f"none of the {len(paths)} image files could be read: {skipped[:3]}")
    poses = []
    for start in tqdm(range(0, len(images), batch_size), desc="panels", unit="batch", leave=False):
        poses += predictor.predict_images(images[start : start + batch_size], sources=names[start : start + batch_size])
    rows = []
    for image, pose in zip(images, poses):
        shown, factor = fit(image, cell)
        rows.append(
            [
                shown,
                draw_pose(
                    shown,
                    pose.xy * factor,
                    pose.found,
                    label="prediction",
                    joints=predictor.caption_joints,
                    spec=predictor.spec,
                ),
            ]
        )
    png = out / "panels.png"
    grid(rows, ["input", "prediction"], [Path(n).name for n in names], cell).save(png)
    data = {"frame": "original image pixels", "images": [p.to_dict() for p in poses], "skipped": skipped}
    return [png, write_json(out / "panels.json", data)]
