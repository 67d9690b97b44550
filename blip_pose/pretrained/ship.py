"""Shipping a finished run as ``pretrained:<name>``: its model and records copied into ``blip_pose/pretrained/<name>/``
with the run's card plus a provenance section (``python -m blip_pose.pretrained RUN_DIR NAME``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from blip_pose.card import render_model_card
from blip_pose.checkpoint import CONFIG_FILES, PROCESSOR_FILES, WEIGHT_FILES
from blip_pose.pretrained import PRETRAINED_DIR, PRETRAINED_PREFIX
from blip_pose.run_folder import MODEL_RECORDS, RESULTS_FILE, RUN_CONFIG_FILE, RunFolder
from blip_pose.run_record import load_run_config, read_json, synthetic_data_note

#: What a shipped folder copies from the run: no checkpoints, optimizer states, logs or pickles.
SHIPPED_FILES = (*CONFIG_FILES, *WEIGHT_FILES, *PROCESSOR_FILES, *MODEL_RECORDS, RESULTS_FILE)


def ship(run_dir: str | Path, name: str, command: str, note: str | None = None) -> Path:
    """Copy a finished run's model into ``blip_pose/pretrained/<name>/`` with a card that records its provenance.

    The card is the run's (as training renders it) plus a provenance section.
    """
    run_dir = Path(run_dir)
    needed = ("config.json", "model.safetensors", RUN_CONFIG_FILE, RESULTS_FILE)
    missing = [f for f in needed if not (run_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: not a finished training run (no {', '.join(missing)})")
    target = PRETRAINED_DIR / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in SHIPPED_FILES:
        if (run_dir / file).is_file():
            shutil.copy2(run_dir / file, target / file)
    # The run's card, with the usage lines loading the shipped name and the data named for what it is.
    dataset = load_run_config(run_dir).get("dataset_name")
    card = str(render_model_card(run_dir, repo_id=PRETRAINED_PREFIX + name, dataset=dataset))
    section = provenance(run_dir, name, command, note)
    RunFolder(target).card.write_text(card.rstrip() + "\n\n" + section, encoding="utf-8")
    return target


def provenance(run_dir: str | Path, name: str, command: str, note: str | None = None) -> str:
    """The card section saying how the shipped model was made, from the run's own records."""
    run_dir = Path(run_dir)
    run = RunFolder(run_dir)
    config, results = load_run_config(run_dir), read_json(run.results)
    state = read_json(run.trainer_state)
    data = synthetic_data_note(config) or f"`{config.get('dataset_name')}`"
    scores = ", ".join(
        f"{key.removeprefix('eval_')} {results[key]:.4g}"
        for key in ("eval_mae", "eval_accuracy@25", "eval_accuracy@5", "eval_parse_rate", "eval_num_samples")
        if isinstance(results.get(key), (int, float))
    )
    settings = {k: config.get(k) for k in ("model_name_or_path", "preset_seed", "seed", "learning_rate", "max_steps")}
    chosen = read_json(run.checkpoint_choice).get("description")  # {} when the run recorded none
    lines = [
        "## Provenance",
        "",
        f"Shipped in the `blip_pose` package as `{PRETRAINED_PREFIX}{name}`; made by this project, not downloaded.",
        "",
        f"- command: `{command}` (config `training/configs/pretrain_tiny.yaml`)",
        f"- data: {data}; config `{config.get('dataset_config_name')}`, {_train_images(run_dir, config)} "
        f"training images, scored on {int(results.get('eval_num_samples', 0))} held-out images",
        f"- settings: {json.dumps(settings)}",
        f"- scores (validation, pixels of the {_frame(run_dir)} caption frame): {scores}",
        f"- training: {state.get('global_step', '?')} steps in {results.get('train_runtime', float('nan')):.0f} s"
        + (f"; the numbers are those of {chosen}" if chosen else ""),
    ]
    if note:
        lines.append(f"- note: {note}")
    return "\n".join(lines) + "\n"


def _frame(run_dir: Path) -> str:
    size = read_json(RunFolder(run_dir).preprocessing).get("image_size", "?")
    return f"{size}x{size}"


def _train_images(run_dir: Path, config: dict) -> str:
    """Training images of the run's built dataset (a ``sample``/``synthetic`` build under the run folder)."""
    reports = sorted(run_dir.glob(f"*/reports/{config.get('dataset_config_name')}.json"))
    return str(read_json(reports[0]).get("examples", {}).get("train", "?")) if reports else "?"
