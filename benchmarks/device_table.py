"""The GPU column's figures from the folder ``device_suite.sh`` wrote, as one Markdown table.

    python benchmarks/device_table.py outputs/device-suite

Reads ``suite.json`` (what each run measures: stage, batch, caption column; written by the suite) and each run's
``all_results.json`` (the Trainer's own figures): training samples/s, evaluation images/s, and the peak memory the
Trainer's memory tracker saw (what was allocated at its start, the model, + the stage's growth + its peak above
that; runs use ``--skip_memory_metrics false``). Accelerator memory on a GPU, process memory on a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from blip_pose.run_folder import RunFolder

MIB = 2**20
SPEED = {"train": ("train_samples_per_second", "samples/s"), "eval": ("eval_samples_per_second", "images/s")}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"device_table.py: {path}: missing; did that run finish?") from None
    except json.JSONDecodeError as err:
        raise SystemExit(f"device_table.py: {path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise SystemExit(f"device_table.py: {path}: expected a JSON object")
    return data


def peak_mib(results: dict[str, Any], stage: str) -> float | None:
    """Peak memory of ``stage`` in MiB, None when the run did not track memory."""
    kind = "gpu" if f"{stage}_mem_gpu_alloc_delta" in results else "cpu"
    keys = (f"init_mem_{kind}_alloc_delta", f"{stage}_mem_{kind}_alloc_delta", f"{stage}_mem_{kind}_peaked_delta")
    if any(key not in results for key in keys):
        return None
    return sum(float(results[key]) for key in keys) / MIB


def row(folder: Path, run: dict[str, Any]) -> list[str]:
    where = f"{folder / 'suite.json'}: run {run.get('run')!r}"
    try:
        stage, batch, column = run["stage"], int(run["batch"]), str(run["caption_column"])
        key, unit = SPEED[stage]
    except (KeyError, TypeError, ValueError):
        raise SystemExit(f"device_table.py: {where}: needs stage train/eval, batch and caption_column") from None
    results_path = RunFolder(folder / str(run["run"])).results
    results = _read(results_path)
    if key not in results:
        raise SystemExit(f"device_table.py: {results_path}: no {key}")
    speed = f"{results[key]:.1f} {unit}"
    if stage == "eval":
        speed += f" ({int(results.get('eval_num_samples', 0))} images)"
    peak = peak_mib(results, stage)
    what = "training" if stage == "train" else "evaluation, constrained"
    return [f"{what}, `{column}`, batch {batch}", speed, "—" if peak is None else f"{peak:,.0f} MiB", str(run["run"])]


def table(folder: Path) -> list[str]:
    suite = _read(folder / "suite.json")
    runs = suite.get("runs")
    if not isinstance(runs, list) or not runs:
        raise SystemExit(f"device_table.py: {folder / 'suite.json'}: no runs")
    lines = [f"model: `{suite.get('model')}`", "| what | speed | peak memory | run |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(row(folder, run)) + " |" for run in runs]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folder", type=Path, help="the --out folder of device_suite.sh")
    args = parser.parse_args(argv)
    import torch

    print(f"device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'}")
    print("\n".join(table(args.folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
