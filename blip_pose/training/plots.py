"""PNG figures of a finished run: training loss, validation accuracy@T and MAE per epoch, skeleton overlays."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a training machine
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from blip_pose.overlay import draw_comparison
from blip_pose.run_record import PLOTS_DIR

OVERLAYS_DIR = "overlays"


def plot_training_curves(log_history: Sequence[dict], output_dir: str | Path) -> list[Path]:
    """``plots/training_loss.png`` (per logged step) and ``plots/validation_metrics.png`` (per epoch)."""
    folder = Path(output_dir) / PLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    train = [(row["step"], row["loss"]) for row in log_history if "loss" in row]
    if train:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(*zip(*train), marker=".")
        ax.set(xlabel="step", ylabel="training loss", title="Training loss")
        ax.grid(alpha=0.3)
        written.append(_save(fig, folder / "training_loss.png"))
    evals = [row for row in log_history if "eval_mae" in row]
    if evals:
        epochs = [row["epoch"] for row in evals]
        fig, (acc_ax, mae_ax) = plt.subplots(1, 2, figsize=(11, 4))
        for key in sorted({k for row in evals for k in row if k.startswith("eval_accuracy@")}, key=_threshold):
            acc_ax.plot(epochs, [row.get(key, np.nan) for row in evals], marker="o", label=key.removeprefix("eval_"))
        acc_ax.set(xlabel="epoch", ylabel="share of images", title="Validation accuracy@T (pixels)", ylim=(0, 1))
        acc_ax.legend()
        mae_ax.plot(epochs, [row["eval_mae"] for row in evals], marker="o", color="tab:red")
        mae_ax.set(xlabel="epoch", ylabel="pixels", title="Validation MAE")
        for ax in (acc_ax, mae_ax):
            ax.grid(alpha=0.3)
        written.append(_save(fig, folder / "validation_metrics.png"))
    return written


def _threshold(key: str) -> float:
    return float(key.rsplit("@", 1)[1])


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_overlays(
    images: Sequence[Image.Image],
    names: Sequence[str],
    pred_xy: np.ndarray,
    pred_found: np.ndarray,
    ref_xy: np.ndarray,
    output_dir: str | Path,
) -> list[Path]:
    """``overlays/<row>_<image>.png``: ground truth (green) and prediction (magenta) on the model's input frame.

    The row number keeps apart the several people of one image that ``person_crop`` splits yield.

    Shapes: ``pred_xy`` and ``ref_xy`` (N, 16, 2) pixels of the images, ``pred_found`` (N, 16).
    """
    folder = Path(output_dir) / OVERLAYS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row, (image, name, xy, found, ref) in enumerate(zip(images, names, pred_xy, pred_found, ref_xy)):
        path = folder / f"{row:03d}_{Path(name).stem}.png"
        draw_comparison(image, xy, found, ref).save(path)
        written.append(path)
    return written
