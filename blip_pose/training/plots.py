"""PNG figures of a finished run: training and validation loss, validation accuracy@T and MAE per step, skeleton
overlays."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a training machine
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.overlay import draw_comparison
from blip_pose.run_folder import RunFolder
from blip_pose.run_record import load_run_config


def plot_training_curves(
    log_history: Sequence[dict], output_dir: str | Path, data_note: str | None = None
) -> list[Path]:
    """``plots/training_loss.png`` (training and validation loss per step) and ``plots/validation_metrics.png``
    (accuracy@T and MAE per step); an axis without data says so instead of showing an empty frame.

    ``data_note`` (e.g. that the data is synthetic) is printed above each figure, so a figure seen alone says it.
    """
    folder = RunFolder(output_dir).plots
    folder.mkdir(parents=True, exist_ok=True)
    scored = evaluated_split(output_dir)
    train = [(row["step"], row["loss"]) for row in log_history if "loss" in row]
    evals = [row for row in log_history if any(key.startswith("eval_accuracy@") for key in row)]
    val_loss = [(row["step"], row["eval_loss"]) for row in evals if "eval_loss" in row]
    if not train and not evals:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), marker=".", label="training")
    if val_loss:  # overfitting shows as this line rising while the training loss falls
        ax.plot(*zip(*val_loss), marker="o", color="tab:orange", label=scored.lower())
    ax.set(xlabel="step", ylabel="loss", title="Loss")
    _legend_or_no_data(ax, bool(train or val_loss))
    written = [_save(fig, folder / "training_loss.png", data_note)]
    if evals:
        written.append(_validation_figure(evals, folder / "validation_metrics.png", data_note, scored))
    return written


def evaluated_split(output_dir: str | Path) -> str:
    """What the run's evaluations scored, as figure titles say it: ``Validation``, or the split named when the run
    evaluates another one (the warm-up configuration scores its own training images: "validation" would mislead)."""
    split = load_run_config(output_dir).get("eval_split") or "validation"
    return "Validation" if split == "validation" else f"Evaluation ({split} split)"


#: Accuracy@T styles, widest threshold first: identical curves stay visible as nested markers.
_ACCURACY_STYLES = [
    {"marker": "o", "markersize": 11, "markerfacecolor": "none", "linestyle": "-"},
    {"marker": "s", "markersize": 7, "markerfacecolor": "none", "linestyle": "--"},
    {"marker": "^", "markersize": 4, "linestyle": ":"},
]


def _validation_figure(evals: list[dict], path: Path, data_note: str | None, scored: str) -> Path:
    steps = np.array([row["step"] for row in evals])
    fig, (acc_ax, mae_ax) = plt.subplots(1, 2, figsize=(11, 4))
    keys = sorted({k for row in evals for k in row if k.startswith("eval_accuracy@")}, key=_threshold, reverse=True)
    for i, key in enumerate(keys):
        style = _ACCURACY_STYLES[min(i, len(_ACCURACY_STYLES) - 1)]
        values = [row.get(key, np.nan) for row in evals]
        acc_ax.plot(steps, values, label=key.removeprefix("eval_"), linewidth=1.5, zorder=3 + i, **style)
    acc_ax.set(xlabel="step", ylabel="share of images", title=f"{scored} accuracy@T (pixels)", ylim=(-0.05, 1.05))
    acc_ax.legend(loc="upper left")
    mae = np.array([row.get("eval_mae", np.nan) for row in evals], dtype=float)
    parsed = np.isfinite(mae)
    if parsed.any():
        mae_ax.plot(steps[parsed], mae[parsed], marker="o", color="tab:red")
    mae_ax.set(xlabel="step", ylabel="pixels", title=f"{scored} MAE (parsed joints)")
    if not parsed.all() and parsed.any():  # the line starts late: say why rather than leave a gap
        for step in steps[~parsed]:
            mae_ax.axvline(step, color="grey", alpha=0.3, linestyle=":")
        mae_ax.annotate(
            f"{int((~parsed).sum())} evaluation(s) parsed no joint\n(dotted lines): no MAE there",
            xy=(0.98, 0.97),
            xycoords="axes fraction",
            ha="right",
            va="top",
            fontsize=9,
            color="dimgrey",
        )
    _legend_or_no_data(mae_ax, bool(parsed.any()), "no data: no evaluation parsed a joint", legend=False)
    if parsed.any():
        mae_ax.set_xlim(acc_ax.get_xlim())  # same steps as the accuracy panel, the unparsed ones included
    acc_ax.grid(alpha=0.3)
    return _save(fig, path, data_note)


def _legend_or_no_data(ax: plt.Axes, has_data: bool, text: str = "no data", *, legend: bool = True) -> None:
    """A legend and grid when the axis has lines; otherwise a centred note and no meaningless ticks."""
    if has_data:
        if legend:
            ax.legend()
        ax.grid(alpha=0.3)
        return
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="dimgrey")
    ax.set_xticks([])
    ax.set_yticks([])


def _threshold(key: str) -> float:
    return float(key.rsplit("@", 1)[1])


def _save(fig: plt.Figure, path: Path, data_note: str | None = None) -> Path:
    if data_note:  # wrapped to the figure's width (~15 characters of 8 pt per inch), or a narrow figure cuts it
        note = textwrap.fill(f"data: {data_note}", width=int(fig.get_figwidth() * 15))
        fig.suptitle(note, fontsize=8, color="tab:red")
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
    spec: KeypointSpec = DEFAULT_SPEC,
) -> list[Path]:
    """``overlays/<row>_<image>.png``: prediction (filled joints) over ground truth (rings, pale limbs) on the
    model's input frame, in the side colours of every overlay (:mod:`blip_pose.overlay`).

    The row number keeps apart the several people of one image that ``person_crop`` splits yield.

    Shapes: ``pred_xy`` and ``ref_xy`` (N, K, 2) pixels of the images, ``pred_found`` (N, K); K keypoints of
    ``spec``.
    """
    folder = RunFolder(output_dir).overlays
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row, (image, name, xy, found, ref) in enumerate(zip(images, names, pred_xy, pred_found, ref_xy)):
        path = folder / f"{row:03d}_{Path(name).stem}.png"
        draw_comparison(image, xy, found, ref, label=name, spec=spec).save(path)
        written.append(path)
    return written
