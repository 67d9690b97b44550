"""The model card (``README.md``) of a training run, rendered with huggingface_hub's ``ModelCard``.

Everything on the card comes from the run's output folder: ``all_results.json`` (the Trainer's metrics) becomes the
results table and the ``model-index`` metadata, ``preprocessing.json`` the input frame, ``run_config.json`` (or, for
the training hyperparameters only, ``training_args.json``) the training data and settings, ``checkpoint_choice.json``
which checkpoint the numbers are from and why. A missing file leaves its section saying so rather than guessing.
Training calls :func:`write_model_card` at the end; ``python -m blip_pose card DIR`` re-renders it. Only a run folder
(one holding the records training writes) gets a card: anywhere else ``README.md`` could be someone's own file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from blip_pose.checkpoint import PRETRAINED_PREFIX
from blip_pose.geometry import Preprocessing
from blip_pose.keypoints import KeypointSpec
from blip_pose.keypoints.mpii import MPII16, PAPER_TABLE_SWAPS
from blip_pose.keypoints.saved import spec_beside
from blip_pose.pckh_table import TABLE_COLUMNS, TABLE_PREFIX
from blip_pose.pose_format import caption_column
from blip_pose.run_folder import (
    CHECKPOINT_CHOICE_FILE,
    PREPROCESSING_FILE,
    RESULTS_FILE,
    RUN_CONFIG_FILE,
    RUN_RECORDS,
    TRAINING_ARGS_FILE,
    RunFolder,
)
from blip_pose.run_record import (
    DEFAULT_BASE_MODEL,
    TRAINING_KEYS,
    caption_column_name,
    load_run_config,
    read_json,
    synthetic_data_note,
)

TEMPLATE_PATH = Path(__file__).with_name("templates") / "model_card.md"
DEFAULT_DATASET = "mpii_pose_caption"
#: What the card calls synthetic training data (never ``mpii_pose_caption``, which names MPII photos).
SYNTHETIC_LABEL = "synthetic stick figures"
#: The images a model knows, for the card's limitations.
MPII_DOMAIN = "MPII's YouTube frames"
SYNTHETIC_DOMAIN = "the procedural stick figures it was trained on (it has never seen a photo)"
#: Citation of the method's write-up; None until the project records it (the card then says so).
METHOD_REFERENCE: str | None = None
TAGS = ["blip", "image-to-text", "pose-estimation", "keypoint-detection", "human-pose", "mpii", "blip-pose"]
TASK_NAME = "Human pose estimation (keypoint detection as captioning)"
#: A heatmap model's card (a family of kind ``"heatmap"``: ViTPose): its tags, task and pipeline.
HEATMAP_TAGS = ["vitpose", "pose-estimation", "keypoint-detection", "human-pose", "mpii", "blip-pose"]
HEATMAP_TASK = ("keypoint-detection", "Human pose estimation (top-down heatmaps)")

#: ``all_results.json`` key -> (model-index metric type, name shown on the card, decimals).
CARD_METRICS: dict[str, tuple[str, str, int]] = {
    "eval_accuracy@25": ("accuracy@25", "Accuracy@25 px", 4),
    "eval_accuracy@5": ("accuracy@5", "Accuracy@5 px", 4),
    "eval_accuracy@1": ("accuracy@1", "Accuracy@1 px", 4),
    "eval_mae": ("mae", "MAE (px)", 2),
    "eval_pckh@0.5": ("pckh@0.5", "PCKh@0.5", 4),
    "eval_parse_rate": ("parse_rate", "Parse rate", 4),
}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# A standing person in a unit square (x, y per MPII joint id): the card's example caption.
_EXAMPLE_POSE = np.array(
    [
        [0.40, 0.93],
        [0.41, 0.75],
        [0.43, 0.55],
        [0.55, 0.55],
        [0.57, 0.75],
        [0.58, 0.93],
        [0.49, 0.55],
        [0.49, 0.30],
        [0.49, 0.25],
        [0.49, 0.12],
        [0.33, 0.55],
        [0.35, 0.42],
        [0.40, 0.29],
        [0.58, 0.29],
        [0.63, 0.42],
        [0.65, 0.55],
    ]
)


def _hub_id(value: Any) -> str | None:
    """``value`` when it names a Hub repo (``owner/name`` that is not a local path), else None."""
    if isinstance(value, str) and _HUB_ID.match(value) and not Path(value).exists():
        return value
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _model_kind(run: RunFolder) -> str:
    """The kind of the run's model family (``"captioner"``, ``"heatmap"``) from its ``config.json``; a captioner
    when the folder has none or names a type this project does not know."""
    from blip_pose.models import model_family  # imports torch: only when a card is rendered

    model_type = read_json(run.path / "config.json").get("model_type")
    try:
        return model_family(str(model_type)).kind
    except ValueError:
        return "captioner"


def _pckh_table_text(results: dict[str, Any]) -> str:
    """The literature's MPII PCKh table (percent, one row) when the run recorded it (a standard-protocol split)."""
    keys = [f"eval_{TABLE_PREFIX}/{column}" for column in TABLE_COLUMNS]
    if not any(key in results for key in keys):
        return ""
    values = [_number(results.get(key)) for key in keys]
    row = ["n/a" if v is None else f"{100 * v:.1f}" for v in values]
    return (
        "MPII's standard protocol, PCKh@0.5 per part as the literature prints it (percent; Mean without pelvis and "
        "thorax, Mean@0.1 at threshold 0.1; mmpose's `MpiiPCKAccuracy` rule, over the evaluated persons):\n\n"
        + _table(list(TABLE_COLUMNS), [row])
    )


def eval_results(
    results: dict[str, Any],
    dataset: str,
    config_name: str | None,
    split: str,
    label: str = DEFAULT_DATASET,
    task: tuple[str, str] = ("image-to-text", TASK_NAME),
) -> list[EvalResult]:
    """One model-index entry per finite metric of :data:`CARD_METRICS` in ``all_results.json`` (``label``: the
    dataset's name as the model index shows it)."""
    entries = []
    for key, (metric_type, metric_name, _) in CARD_METRICS.items():
        value = _number(results.get(key))
        if key == "eval_parse_rate" and task[0] != "image-to-text":
            continue  # 1.0 by construction: a heatmap model writes no caption to parse
        if value is None:
            continue
        entries.append(
            EvalResult(
                task_type=task[0],
                task_name=task[1],
                dataset_type=dataset,
                dataset_name=f"{label} ({config_name})" if config_name else label,
                dataset_config=config_name,
                dataset_split=split,
                metric_type=metric_type,
                metric_name=metric_name,
                metric_value=value,
            )
        )
    return entries


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _results_table(results: dict[str, Any], split: str, choice: dict[str, Any], heatmap: bool = False) -> str:
    rows = []
    for key, (_, name, decimals) in CARD_METRICS.items():
        if key in results and not (heatmap and key == "eval_parse_rate"):
            value = _number(results[key])
            rows.append([name, "n/a" if value is None else f"{value:.{decimals}f}"])
    if not rows:
        return f"No evaluation results recorded (no metrics in `{RESULTS_FILE}`)."
    extra = [
        f"{name}: {results[key]:.4g}"
        for key, name in (("train_loss", "final training loss"), ("epoch", "epochs"))
        if _number(results.get(key)) is not None
    ]
    count = _number(results.get("eval_num_samples"))
    note = f"\n\nOn the `{split}` split" + (f" ({int(count)} images)" if count else "")
    note += f"; {', '.join(extra)}." if extra else "."
    if choice.get("description"):
        note += f" The numbers are those of {choice['description']}."
    else:
        note += f" Which checkpoint they are from was not recorded (no `{CHECKPOINT_CHOICE_FILE}`)."
    return _table(["metric", "value"], rows) + note


def _training_config(config: dict[str, Any], results: dict[str, Any]) -> str:
    """The settings table; ``num_train_epochs`` is labelled as configured, next to the epochs actually trained
    (``max_steps`` or a stop can end training at another point)."""
    rows = []
    for key in TRAINING_KEYS:
        if config.get(key) is not None:
            rows.append([f"`{key}`" + (" (configured)" if key == "num_train_epochs" else ""), f"`{config[key]}`"])
            trained = _number(results.get("epoch"))
            if key == "num_train_epochs" and trained is not None:
                rows.append(["epochs trained", f"`{trained:.4g}`"])
    if not rows:
        return f"Not recorded (no `{RUN_CONFIG_FILE}` or `{TRAINING_ARGS_FILE}` in the run's folder)."
    return _table(["setting", "value"], rows)


def _example_caption(column: str, size: int, spec: KeypointSpec) -> str:
    """The caption the column's rule writes for a standing person (MPII-16; another set: keypoints on a ring) in
    a ``size`` px square."""
    k = spec.num_keypoints
    angles = 2 * np.pi * np.arange(k) / k
    ring = 0.5 + 0.3 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    pose = _EXAMPLE_POSE if spec == MPII16 else ring
    return caption_column(column).render(pose * size, np.ones(k, int), size, size, spec=spec)


def _joint_text(spec: KeypointSpec) -> dict[str, str]:
    """The card's words for the model's keypoint set: what it writes, its table and (MPII) the write-up's swaps."""
    table = _table(
        ["id", "joint", "caption name"], [[i, n, f"`{c}`"] for i, (n, c) in enumerate(zip(spec.names, spec.captions))]
    )
    if spec == MPII16:
        swaps = " and ".join(f"{a}<->{b}" for a, b in PAPER_TABLE_SWAPS)
        note = (
            f"The method's write-up prints this table with ids {swaps} swapped; the ids above are those of the MPII\n"
            "annotation file, which the captions follow."
        )
        return {
            "joints_written": "16 MPII body joints",
            "joint_order": "MPII joint-id",
            "joint_table": table,
            "joint_note": note,
        }
    written = f"{spec.num_keypoints} keypoints (set `{spec.name}`)"
    return {"joints_written": written, "joint_order": f"`{spec.name}` id", "joint_table": table, "joint_note": ""}


def _preprocessing_text(pre: Preprocessing, recorded: bool) -> tuple[str, str, str]:
    """(training-data sentence, precision note, limitation line) for the preprocessing record."""
    s = pre.image_size
    if pre.mode == "resize":
        how = f"the whole image resized to {s}x{s} (aspect ratio not kept)"
        precision = (
            f"width/{s} x height/{s} pixels of the original, e.g. {1280 / s:.1f} x {720 / s:.1f} px for a "
            "1280x720 frame"
        )
        limit = "The whole image is stretched to a square, so wide or tall images distort the person."
    else:
        how = f"a square of {pre.crop_padding} x the person's size around the person, resized to {s}x{s}"
        precision = f"crop side/{s} pixels of the original"
        limit = (
            "Crop models need the person's box (`person_boxes=`); without one the predictor uses a centred "
            "square over the whole image, unlike training."
        )
    if not recorded:
        how += f" (assumed: no `{PREPROCESSING_FILE}` was saved with the model)"
    return how, precision, limit


def _origin(start: str | None, base_model: str | None) -> str:
    """The card's sentence on what training started from: a Hub model, a shipped model, a preset or a folder."""
    # Imported here: presets imports torch, which importing this module (e.g. `python -m blip_pose metric-path` in a
    # torch-free environment) must not need.
    from blip_pose.presets import PRESETS

    if base_model:
        return f"Fine-tuned from [`{base_model}`](https://huggingface.co/{base_model})."
    if start in PRESETS:
        return (
            f"Trained from scratch: `{start}` is a random-initialised model preset of this project "
            "(a config, no pretrained weights)."
        )
    if start and start.startswith(PRETRAINED_PREFIX):
        return (
            f"Fine-tuned from `{start}`, a small pose captioner this package ships "
            "(trained by the project on synthetic people, see its own card)."
        )
    return f"Trained from the local checkpoint `{start}` (not a Hub model)."


def render_model_card(
    output_dir: str | Path,
    *,
    repo_id: str | None = None,
    base_model: str | None = None,
    dataset: str | None = None,
) -> ModelCard:
    """The card of the run in ``output_dir`` (nothing written).

    Args:
        repo_id: Hub repo the model is pushed to; the usage snippet loads it (default: the local folder).
        base_model: Hub id fine-tuned from (default: the run's ``model_name_or_path`` if it is a Hub id, else
            :data:`DEFAULT_BASE_MODEL`; a run from a local folder or preset records no base model).
        dataset: Hub id of the training data (default: the run's ``dataset_name`` if it is a Hub id, else
            :data:`DEFAULT_DATASET`).
    """
    output_dir = Path(output_dir)
    run = RunFolder(output_dir)
    if not output_dir.is_dir():
        raise FileNotFoundError(f"{output_dir}: no such run folder")
    if not run.is_run():
        raise FileNotFoundError(
            f"{output_dir}: not a training run folder (none of {', '.join(RUN_RECORDS)}); "
            "a model card is written only into a folder training/run.py wrote"
        )
    results = read_json(run.results)
    config = load_run_config(output_dir)
    recorded = run.preprocessing.is_file()
    spec = spec_beside(output_dir)
    pre = Preprocessing.load(output_dir, spec) if recorded else Preprocessing()
    column = caption_column_name(config)
    kind = caption_column(column).format.name
    heatmap = _model_kind(run) == "heatmap"
    task = HEATMAP_TASK if heatmap else ("image-to-text", TASK_NAME)

    start = config.get("model_name_or_path")
    if base_model is None:
        base_model = _hub_id(start) if start is not None else DEFAULT_BASE_MODEL
    origin = _origin(start, base_model)
    synthetic = synthetic_data_note(config)
    label = SYNTHETIC_LABEL if synthetic else DEFAULT_DATASET
    dataset = dataset or _hub_id(config.get("dataset_name")) or label
    config_name = config.get("dataset_config_name")
    split = config.get("eval_split", "validation")
    name = repo_id.split("/")[-1] if repo_id else output_dir.resolve().name

    data = ModelCardData(
        library_name="transformers",
        pipeline_tag=task[0],
        base_model=base_model,
        datasets=None if dataset == SYNTHETIC_LABEL else [dataset],  # not an MPII dataset, not a Hub id
        tags=[*(HEATMAP_TAGS if heatmap else TAGS), *(["synthetic-data"] if synthetic else [])],
        model_name=name,
        eval_results=eval_results(results, dataset, config_name, split, label, task) or None,
    )
    how, precision, limit = _preprocessing_text(pre, recorded)
    train_size = (
        f"{int(results['train_samples'])} training images"
        if _number(results.get("train_samples"))
        else f"the training split of `{dataset}`"
    )
    config_text = f", config `{config_name}`" if config_name else ""
    dataset_line = f"- dataset: `{dataset}`{config_text}"
    if synthetic:  # its own words: the label would only repeat them
        dataset_line = (
            f"- dataset: {synthetic}{config_text}; a demonstration model, not a pose estimator for real images"
        )
    references = (
        f"- reference joints: read from the caption column `{column}` (the model learns heatmaps, not text)"
        if heatmap
        else f"- caption column: `{column}` ({kind} coordinates)"
    )
    training_data = "\n".join(
        [
            dataset_line,
            references,
            f"- input frame: {how}",
            f"- evaluation split: `{split}`",
        ]
    )
    return ModelCard.from_template(
        data,
        template_path=str(TEMPLATE_PATH),
        title=f"{name}: " + ("heatmap pose baseline (ViTPose)" if heatmap else "BLIP pose captions"),
        heatmap=heatmap,
        origin=origin,
        frame=f"{pre.image_size}x{pre.image_size}",
        example_caption=_example_caption(column, pre.image_size, spec),
        num_joints=spec.num_keypoints,
        **_joint_text(spec),
        model_ref=repo_id or str(output_dir),
        training_data=training_data,
        training_config=_training_config(config, results),
        results_table=_results_table(results, split, read_json(run.checkpoint_choice), heatmap),
        pckh_table=_pckh_table_text(results),
        train_size=train_size,
        domain=SYNTHETIC_DOMAIN if synthetic else MPII_DOMAIN,
        precision_note=precision,
        preprocessing_note=limit,
        method_reference=METHOD_REFERENCE or "its write-up (reference not yet recorded by this project)",
    )


def write_model_card(
    output_dir: str | Path,
    *,
    repo_id: str | None = None,
    base_model: str | None = None,
    dataset: str | None = None,
) -> Path:
    """Render the card of the run in ``output_dir`` and save it as ``output_dir/README.md``; returns that path."""
    card = render_model_card(output_dir, repo_id=repo_id, base_model=base_model, dataset=dataset)
    path = RunFolder(output_dir).card
    card.save(path)
    return path
