"""Figures of the method's study: training beside validation curves of one run (Figure 3) and the sweep's
one-factor comparisons (Figures 4-6: training loss, validation accuracy and MAE per epoch, one line per setting)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on a training machine
import matplotlib.pyplot as plt

from blip_pose.run_folder import RunFolder
from blip_pose.training.evaluation import TRAIN_SUBSET_PREFIX
from blip_pose.training.plots import _save as save_figure  # one look for every figure, its data note included

TRAIN_VALIDATION_FILE = "train_validation.png"


def curve(log_history: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    """``(epochs, values)`` of one logged key, in logging order (NaN kept: a diverged run shows its gap)."""
    rows = [row for row in log_history if key in row and "epoch" in row]
    return [float(row["epoch"]) for row in rows], [float(row[key]) for row in rows]


def plot_train_validation(
    log_history: Sequence[dict], output_dir: str | Path, data_note: str | None = None
) -> Path | None:
    """``plots/train_validation.png``: loss (training steps, validation, training subset) and accuracy@T of the
    validation split (solid) and of the ``--train_eval_samples`` subset (dashed) per epoch. None without evaluations.
    ``data_note`` (e.g. that the data is synthetic) is printed above the figure, as on the other training plots.
    """
    val_keys = sorted({k for row in log_history for k in row if k.startswith("eval_accuracy@")}, key=_threshold)
    if not val_keys:
        return None
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label, style in (
        ("loss", "training (per logged step)", "-"),
        ("eval_loss", "validation", "-o"),
        (f"{TRAIN_SUBSET_PREFIX}_loss", "training subset", "--s"),
    ):
        epochs, values = curve(log_history, key)
        if epochs:
            loss_ax.plot(epochs, values, style, label=label, markersize=4)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, key in enumerate(val_keys):
        # Hollow markers shrinking per threshold: equal scores (often all 0 early on) stay visible on each other.
        look: dict[str, Any] = {"color": colors[i % len(colors)], "fillstyle": "none", "markersize": 10 - 3 * (i % 3)}
        name = key.removeprefix("eval_")
        acc_ax.plot(*curve(log_history, key), "-o", label=f"validation {name}", **look)
        train = curve(log_history, f"{TRAIN_SUBSET_PREFIX}_{name}")
        if train[0]:
            acc_ax.plot(*train, "--s", label=f"training subset {name}", **look)
    loss_ax.set(xlabel="epoch", ylabel="caption loss", title="Loss")
    acc_ax.set(xlabel="epoch", ylabel="share of images", title="Accuracy@T (pixels)", ylim=(-0.02, 1.02))
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    folder = RunFolder(output_dir).plots
    folder.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, folder / TRAIN_VALIDATION_FILE, data_note)


def plot_factor(
    factor: str,
    histories: Mapping[str, Sequence[dict]],
    metric: str,
    path: str | Path,
    note: str = "",
    data_note: str | None = None,
) -> Path:
    """One factor's comparison: training loss, validation ``metric`` and validation MAE per epoch.

    ``histories`` maps each setting's label (e.g. ``"lr 5e-05"``) to its run's ``log_history``; ``note`` names the
    settings held fixed; ``data_note`` (synthetic data) is printed above the figure, as on a run's plots.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = (
        ("loss", "training loss"),
        (f"eval_{metric}", f"validation {metric}"),
        ("eval_mae", "validation MAE (px)"),
    )
    for ax, (key, title) in zip(axes, panels):
        for label, history in histories.items():
            epochs, values = curve(history, key)
            if epochs:
                ax.plot(epochs, values, "-" if key == "loss" else "-o", markersize=4, label=label)
        if not ax.lines:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if metric.startswith("accuracy@"):
        axes[1].set_ylim(-0.02, 1.02)
    title = f"{factor}{f' ({note})' if note else ''}"
    fig.suptitle(f"{title}\ndata: {data_note}" if data_note else title, fontsize=9 if data_note else None)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, Path(path))


def _threshold(key: str) -> float:
    return float(key.rsplit("@", 1)[1])
