"""``analyze compare``: runs of any model family side by side, read from their records alone (no model is loaded).

One row per run: the family (``config.json``'s ``model_type``), the final evaluation's accuracy@25/5/1, mae and
PCKh@0.5 with the literature's parts (Head ... Ankle: the mean of a part's joints' PCKh, as
:mod:`blip_pose.pckh_table`'s columns) where the run has head boxes, parse rate (a captioner's; a heatmap model's is
1.0 by construction), parameters (from the safetensors header), steps, training time, training samples/s and
evaluation images/s (the Trainer's own ``train_runtime``, ``train_samples_per_second``, ``eval_samples_per_second``
in ``all_results.json``; the heatmap baseline's evaluation includes its flip test). Written as ``compare.md``,
``compare.csv`` and ``compare.png``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from transformers.utils import CONFIG_NAME

from blip_pose.models import model_family
from blip_pose.pckh_table import PCKH_PARTS
from blip_pose.run_folder import RunFolder
from blip_pose.run_record import read_json

#: Columns of the table: (header, key of a row), in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("run", "run"),
    ("family", "family"),
    ("acc@25", "accuracy@25"),
    ("acc@5", "accuracy@5"),
    ("acc@1", "accuracy@1"),
    ("mae px", "mae"),
    ("PCKh@0.5", "pckh@0.5"),
    *((part, f"pckh@0.5/{part}") for part, _ in PCKH_PARTS),
    ("parse", "parse_rate"),
    ("params", "parameters"),
    ("steps", "steps"),
    ("train s", "train_runtime"),
    ("train samples/s", "train_samples_per_second"),
    ("eval images/s", "eval_samples_per_second"),
)
#: The scores drawn in the figure's first panel.
SCORES = ("accuracy@25", "accuracy@5", "accuracy@1", "pckh@0.5")


def parameters(folder: Path) -> int | None:
    """The model's parameter count from its safetensors header (no weights read); None without weights."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with safe_open(str(path), framework="numpy") as weights:
            total += sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())
    return total


def _family_name(model_type: str) -> str:
    """The family's short name (``ved``, not ``vision-encoder-decoder``); the model type of an unregistered one."""
    try:
        return model_family(model_type).name
    except ValueError:
        return model_type


def run_row(run_dir: str | Path) -> dict[str, Any]:
    """One run's row (missing numbers are None)."""
    folder = RunFolder(run_dir)
    if not folder.results.is_file():
        raise FileNotFoundError(f"{run_dir}: no {folder.results.name} (not a finished run folder)")
    results = read_json(folder.results)
    config = read_json(folder.path / CONFIG_NAME)
    state = read_json(folder.trainer_state)
    row: dict[str, Any] = {"run": folder.path.name, "family": _family_name(str(config.get("model_type")))}
    for key in ("accuracy@25", "accuracy@5", "accuracy@1", "mae", "pckh@0.5", "parse_rate", "samples_per_second"):
        row[key] = results.get(f"eval_{key}")
    row["eval_samples_per_second"] = row.pop("samples_per_second")
    for part, joints in PCKH_PARTS:
        values = [results.get(f"eval_pckh@0.5/{joint}") for joint in joints]
        known = [float(value) for value in values if value is not None]
        row[f"pckh@0.5/{part}"] = sum(known) / len(known) if len(known) == len(joints) else None
    row["parameters"] = parameters(folder.path)
    row["steps"] = state.get("global_step")
    row["train_runtime"] = results.get("train_runtime")
    row["train_samples_per_second"] = results.get("train_samples_per_second")
    return row


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value / 1e6:.2f}M"
    return str(value)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table, columns no run has dropped."""
    columns = [(header, key) for header, key in COLUMNS if any(row.get(key) is not None for row in rows)]
    lines = ["| " + " | ".join(header for header, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(key)) for _, key in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict[str, Any]], path: Path) -> Path:
    """Scores per run (left) and training / evaluation throughput (right), one bar colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (scores, speed) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        label = f"{row['run']} ({row['family']})"
        values = [row.get(key) if row.get(key) is not None else np.nan for key in SCORES]
        scores.bar(np.arange(len(SCORES)) + i * width, values, width, label=label)
        rates = [row.get(key) or np.nan for key in ("train_samples_per_second", "eval_samples_per_second")]
        speed.bar(np.arange(2) + i * width, rates, width, label=label)
    scores.set_xticks(np.arange(len(SCORES)) + 0.4 - width / 2, SCORES)
    scores.set_ylim(0, 1)
    scores.set_ylabel("fraction of joints")
    scores.set_title("final evaluation")
    speed.set_xticks(np.arange(2) + 0.4 - width / 2, ["train samples/s", "eval images/s"])
    speed.set_title("throughput")
    scores.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def compare(run_dirs: list[str], out: Path) -> list[Path]:
    """Write ``compare.md``, ``compare.csv`` and ``compare.png`` into ``out`` (made if missing); prints the markdown
    table."""
    rows = [run_row(run) for run in run_dirs]
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    md, table_csv = out / "compare.md", out / "compare.csv"
    md.write_text(table, encoding="utf-8")
    with table_csv.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[key for _, key in COLUMNS])
        writer.writeheader()
        writer.writerows({key: row.get(key) for _, key in COLUMNS} for row in rows)
    print(table, end="")
    return [md, table_csv, figure(rows, out / "compare.png")]
