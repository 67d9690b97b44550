"""The sweep's records: one ``sweep_trial.json`` per finished trial (also the mark that it need not run again),
``sweep_results.csv`` (one row per trial) and ``sweep_summary.md`` (sorted table and the chosen setting)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TRIAL_FILE = "sweep_trial.json"
RESULTS_CSV = "sweep_results.csv"
SUMMARY_FILE = "sweep_summary.md"
#: Scores each trial reports, at its best evaluation and at its last one.
HEADLINE = ("accuracy@25", "accuracy@5", "accuracy@1", "mae", "pckh@0.5", "parse_rate")
FINISHED, DIVERGED = "finished", "diverged"


@dataclass
class TrialResult:
    setting: str  # the trial's folder name, e.g. bs4-lr5e-05-adamw
    batch_size: int
    learning_rate: float
    optimizer: str
    status: str  # FINISHED or DIVERGED (a non-finite training loss stopped it)
    best_epoch: float | None = None
    best: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    train_samples_per_s: float | None = None

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / TRIAL_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> TrialResult | None:
        """The trial's result, None when it has none yet (never run, or killed before it finished)."""
        path = Path(folder) / TRIAL_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None

    def objective(self, metric: str) -> float:
        """The best validation ``metric`` (0 for a trial that never scored): what the search maximises."""
        value = self.best.get(metric, math.nan)
        return 0.0 if math.isnan(value) else value


def scores_from_history(log_history: Sequence[dict], metric: str) -> tuple[float | None, dict, dict]:
    """``(best epoch, best scores, last scores)`` over the validation evaluations of a ``log_history``."""
    evals = [row for row in log_history if f"eval_{metric}" in row]
    if not evals:
        return None, {}, {}

    def key(row: dict) -> float:
        value = float(row[f"eval_{metric}"])
        return -math.inf if math.isnan(value) else value

    best = max(evals, key=key)  # the first of equals, like the Trainer's best checkpoint

    def headline(row: dict) -> dict[str, float]:
        return {name: float(row[f"eval_{name}"]) for name in HEADLINE if f"eval_{name}" in row}

    return best.get("epoch"), headline(best), headline(evals[-1])


def csv_columns() -> list[str]:
    settings = ["setting", "batch_size", "learning_rate", "optimizer", "status", "best_epoch"]
    scores = [f"{when}_{name}" for when in ("best", "final") for name in HEADLINE]
    return [*settings, *scores, "wall_s", "train_samples_per_s"]


def csv_row(result: TrialResult) -> dict[str, Any]:
    row: dict[str, Any] = {k: v for k, v in asdict(result).items() if k not in ("best", "final")}
    for when, scores in (("best", result.best), ("final", result.final)):
        row.update({f"{when}_{name}": scores.get(name, "") for name in HEADLINE})
    return row


def ranked(results: Sequence[TrialResult], metric: str) -> list[TrialResult]:
    """Finished trials by best ``metric`` (then lower MAE), diverged ones after them."""

    def key(result: TrialResult) -> tuple:
        mae = result.best.get("mae", math.inf)
        return (result.status != FINISHED, -result.objective(metric), math.inf if math.isnan(mae) else mae)

    return sorted(results, key=key)


def write_results(
    results: Sequence[TrialResult],
    folder: str | Path,
    metric: str,
    design: str,
    missing: Sequence[str] = (),
    data_note: str | None = None,
) -> tuple[Path, Path]:
    """``sweep_results.csv`` and ``sweep_summary.md`` of every trial found so far; ``missing``: settings not run;
    ``data_note``: what the data was when synthetic (the summary says so, as a run's card and plots do)."""
    folder = Path(folder)
    order = ranked(results, metric)
    csv_path = folder / RESULTS_CSV
    with csv_path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=csv_columns())
        writer.writeheader()
        writer.writerows(csv_row(result) for result in order)
    summary_path = folder / SUMMARY_FILE
    summary_path.write_text(summary(order, metric, design, missing, data_note))
    return csv_path, summary_path


def summary(
    order: Sequence[TrialResult], metric: str, design: str, missing: Sequence[str], data_note: str | None = None
) -> str:
    diverged = [r.setting for r in order if r.status == DIVERGED]
    lines = [
        "# Sweep summary",
        "",
        f"Design `{design}`: {len(order)} trials recorded ({len(diverged)} diverged), {len(missing)} not run yet. "
        f"Ranked by the best validation {metric} over each trial's evaluations (ties: lower MAE).",
        "",
        *([f"Data: {data_note}.", ""] if data_note else []),
    ]
    chosen = next((r for r in order if r.status == FINISHED), None)
    if chosen is not None and chosen.objective(metric) <= 0:
        lines += [f"No setting chosen: no trial's validation {metric} rose above 0.", ""]
    elif chosen is not None:
        lines += [
            f"**Chosen setting: `{chosen.setting}`** (batch {chosen.batch_size}, learning rate "
            f"{chosen.learning_rate:g}, {chosen.optimizer}): {metric} {_fmt(chosen.best.get(metric))} at epoch "
            f"{_fmt(chosen.best_epoch)}.",
            "",
        ]
    header = ["rank", "setting", "batch", "lr", "optimizer", "status", "best epoch"]
    header += [f"best {name}" for name in HEADLINE] + [f"final {metric}", "wall s", "samples/s"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, r in enumerate(order, 1):
        cells = [rank, f"`{r.setting}`", r.batch_size, f"{r.learning_rate:g}", r.optimizer, r.status, r.best_epoch]
        cells += [r.best.get(name) for name in HEADLINE] + [r.final.get(metric), r.wall_s, r.train_samples_per_s]
        lines.append("| " + " | ".join(_fmt(cell) for cell in cells) + " |")
    if missing:
        lines += ["", "Not run yet: " + ", ".join(f"`{name}`" for name in missing) + "."]
    if diverged:
        lines += [
            "",
            "Diverged (non-finite training loss or gradient norm; stopped early): " + ", ".join(diverged) + ".",
        ]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)
