"""Training stages (the method's Figure 7): the same images drawn with the captions of successive checkpoints of
one run, one row per image, ground truth first, then one column per checkpoint in step order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blip_pose.analysis.common import Split, fit, generate, grid, points, write_json
from blip_pose.overlay import draw_pose
from blip_pose.pose_metrics import joint_errors, parse_captions
from blip_pose.predictor import PosePredictor
from blip_pose.run_folder import RunFolder, checkpoint_step
from blip_pose.run_record import read_json


def checkpoints(run_dir: str | Path, limit: int | None = None) -> list[Path]:
    """The run's ``checkpoint-<step>`` folders holding weights, by step (not by name: 80 comes before 320).

    ``limit`` keeps that many, evenly spaced, always the first and the last.
    """
    run = Path(run_dir)
    paths = [path for path in RunFolder(run).checkpoints() if (path / "config.json").is_file()]
    if not paths:
        raise ValueError(f"{run}: no checkpoint-<step> folders with a saved model; stages needs a run's checkpoints")
    if limit is not None and 0 < limit < len(paths):
        keep = sorted({round(i) for i in np.linspace(0, len(paths) - 1, limit)})
        paths = [paths[i] for i in keep]
    return paths


def _title(path: Path) -> str:
    state = read_json(RunFolder(path).trainer_state)
    epoch = state.get("epoch")
    return f"step {checkpoint_step(path)}" + (f", ep {epoch:g}" if epoch is not None else "")


def stages(
    run_dir: str | Path,
    splits: list[Split],
    out: Path,
    *,
    max_checkpoints: int | None = None,
    final: bool = True,
    batch_size: int = 8,
    device: str | None = None,
    cell: int = 256,
) -> list[Path]:
    """``stages.png`` and ``stages.json``: every image of ``splits`` under every checkpoint (and the final model
    of the run folder when ``final`` and it holds one)."""
    models = checkpoints(run_dir, max_checkpoints)
    titles = [_title(m) for m in models]
    if final and (Path(run_dir) / "config.json").is_file():
        models.append(Path(run_dir))
        titles.append("final model")
    frames = [frame for split in splits for frame in split.frames]
    refs_xy = np.concatenate([s.refs.xy for s in splits])
    refs_found = np.concatenate([s.refs.found for s in splits])
    sizes = np.concatenate([s.refs.sizes for s in splits])
    names = [f"{s.name}/{n}" for s in splits for n in s.refs.names]
    spec = splits[0].refs.spec
    columns, predictions = [], []
    for model, title in zip(models, titles):
        predictor = PosePredictor.from_pretrained(model, device=device)
        captions = generate(predictor, frames, batch_size, f"stages ({title})")
        xy, found = parse_captions(captions, splits[0].column, sizes, spec=spec)
        errors = joint_errors(xy, refs_xy)
        columns.append(
            {
                "title": title,
                "model": str(model),
                "mean_error_px": float(np.nanmean(errors)) if np.isfinite(errors).any() else None,
                "images": [
                    {"image": n, "caption": c, "joints": points(p, f), "mean_error_px": _mean(e)}
                    for n, c, p, f, e in zip(names, captions, xy, found, errors)
                ],
            }
        )
        predictions.append((xy, found))
    rows = []
    for i, frame in enumerate(frames):
        shown, factor = fit(frame, cell)
        written = np.flatnonzero(refs_found[i]).tolist()  # only the reference's joints can be missing
        truth = draw_pose(
            shown, refs_xy[i] * factor, refs_found[i], label="ground truth", names=False, joints=written, spec=spec
        )
        row = [truth]
        for xy, found in predictions:
            error = _mean(joint_errors(xy[i], refs_xy[i]))
            label = "no joint read" if error is None else f"mean error {error:.1f} px"
            row.append(draw_pose(shown, xy[i] * factor, found[i], label=label, names=False, joints=written, spec=spec))
        rows.append(row)
    png = out / "stages.png"
    grid(rows, ["ground truth", *titles], names, cell).save(png)
    data = {"run": str(run_dir), "frame": "model input pixels", "columns": columns}
    return [png, write_json(out / "stages.json", data)]


def _mean(errors: np.ndarray) -> float | None:
    return round(float(np.nanmean(errors)), 2) if np.isfinite(errors).any() else None
