"""One run's set-up and end-of-run, shared by ``training/run.py`` and every trial of ``training/sweep.py``.

Each script once carried its own copy and they drifted apart (a sweep trial lacked the whole-run training loss,
``checkpoint_choice.json``, the synthetic-data note and signal handling); a trial is a run, so both call these.

* :func:`check_arguments`: what can be refused from the arguments alone, before any data is generated or loaded;
* :func:`set_up`: output folder, model and processor, the resolved dataset, checked inputs, ``compute_metrics``;
* :func:`make_trainer`: the Trainer with the standard callbacks and the quiet console;
* :func:`end_run`: save, records, training figures, checkpoint choice, final evaluation, card, plots, overlays.

The training library imports no publishing module (card, Hub, Space): the model card is written by the step the
script hands :func:`set_up` (``write_card=blip_pose.card.write_model_card``), kept on the :class:`RunSetUp` that a run
and every sweep trial end with, as the dataset resolver is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import transformers
from transformers import PretrainedConfig, PreTrainedModel, TrainerCallback, set_seed
from transformers.processing_utils import ProcessorMixin
from transformers.trainer_utils import TrainOutput

from blip_pose.models import ModelFamily, family_for_checkpoint, family_for_config, model_family_by_name
from blip_pose.presets import preset_family
from blip_pose.run_record import flatten_run_config, synthetic_data_note
from blip_pose.training.arguments import (
    ConfigError,
    DataArguments,
    ModelArguments,
    PoseTrainingArguments,
    first_per_storage,
)
from blip_pose.training.callbacks import KeepEpochsCallback, RunRecordCallback, study_callbacks
from blip_pose.training.data import check_caption_column, dataset_keypoints, load_pose_dataset
from blip_pose.training.evaluation import PoseMetrics
from blip_pose.training.heatmap_run import HeatmapInputs, RunHeatmapTrainer, heatmap_set_up
from blip_pose.training.inputs import RunInputs, run_inputs
from blip_pose.training.modeling import load_model_and_processor, preset_name, resolve_checkpoint
from blip_pose.training.output_dir import check_output_dir
from blip_pose.training.plots import plot_training_curves, write_overlays
from blip_pose.training.report import (
    KeepLastUntilScored,
    checkpoint_choice,
    quiet_console,
    run_summary,
    save_checkpoint_choice,
)
from blip_pose.training.results import LogBeforeSaves, ResumePoint, whole_run_train_metrics
from blip_pose.training.signals import StopOnSignal
from blip_pose.training.sweep_figures import plot_train_validation
from blip_pose.training.trainer import PoseCaptionTrainer, optimizer_cls_and_kwargs


def configure(training_args: PoseTrainingArguments) -> None:
    """Logging, and the arguments every run of this project needs whatever its config says."""
    level = training_args.get_process_log_level()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    transformers.utils.logging.set_verbosity(level)
    # The collator reads the raw image and caption columns, and scores need generated captions.
    training_args.remove_unused_columns = False
    training_args.predict_with_generate = True
    set_seed(training_args.seed)


def check_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: PoseTrainingArguments) -> None:
    """Refuse what the arguments alone show to be wrong, before any work (a 10,000-frame synthetic build, a model
    download) is done: the data checks would refuse the same later, after that work."""
    check_caption_column(data_args.caption_column)
    if data_args.train_eval_samples is not None and data_args.train_eval_samples < 1:
        raise ConfigError(f"--train_eval_samples must be a positive number of rows, got {data_args.train_eval_samples}")
    preset_name(model_args.model_name_or_path)  # an unknown "preset:NAME" is an error naming the known ones
    KeepEpochsCallback.from_args(training_args)  # --keep_epochs against the save strategy and the run's length


@dataclass
class RunSetUp:
    """What a run (or every trial of a sweep) trains and scores with."""

    checkpoint: str  # the folder or Hub id the model was loaded from (a preset saved as a checkpoint)
    model: PreTrainedModel | None  # None once a sweep has handed model loading to model_init
    processor: ProcessorMixin
    model_config: PretrainedConfig
    inputs: RunInputs | HeatmapInputs
    compute_metrics: PoseMetrics
    write_card: CardWriter  # the end of a run writes the model card with it
    trainer_cls: Callable[..., Any] = PoseCaptionTrainer  # a heatmap model's run: its own (heatmap_run.py)


#: ``(dataset_name, config_name, work_dir, synthetic_size, synthetic_seed) -> what load_dataset reads``: the scripts
#: pass ``pose_dataset.resolve_dataset`` (builds ``sample``/``synthetic`` offline), as ``blip_pose`` never imports
#: the dataset packages.
DatasetResolver = Callable[[str, str | None, Path, int, int], str]
#: ``output_dir -> the card's path``: the scripts pass ``blip_pose.card.write_model_card`` (see the module's note).
CardWriter = Callable[[Path], Path]


def set_up(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: PoseTrainingArguments,
    resolve_dataset: DatasetResolver,
    work_dir: Path,
    *,
    write_card: CardWriter,
    check_output: bool = True,
) -> RunSetUp:
    """Check the arguments and the output folder, load the model and processor (a preset is first saved into
    ``work_dir`` by the main process), resolve and check the data (``sample``/``synthetic`` built into ``work_dir``).

    ``write_card``: the end of the run (and of every sweep trial) writes the model card with it.
    ``check_output``: refuse a previous run in ``--output_dir`` (off for a sweep, whose folder holds its trials).
    """
    check_arguments(model_args, data_args, training_args)
    if check_output:
        # A previous run there: overwrite, resume, or stop. The main process decides and deletes first; the others
        # then find the folder clean (under DDP every rank deleting the same files made all but one crash).
        with training_args.main_process_first(local=False, desc="output folder"):
            check_output_dir(training_args)
    if (family := _family(model_args)) is not None and family.kind == "heatmap":  # the one branch on the kind
        checkpoint, vitpose, image_processor, heatmaps, metrics = heatmap_set_up(
            family, model_args, data_args, training_args, resolve_dataset, work_dir
        )
        config = vitpose.config
        return RunSetUp(checkpoint, vitpose, image_processor, config, heatmaps, metrics, write_card, RunHeatmapTrainer)
    with first_per_storage(training_args, "dataset"):
        source = resolve_dataset(
            data_args.dataset_name,
            data_args.dataset_config_name,
            work_dir,
            data_args.synthetic_size,
            data_args.synthetic_seed,
        )
        dataset = load_pose_dataset(source, data_args.dataset_config_name, model_args.cache_dir)
    spec = dataset_keypoints(next(iter(dataset.values())), source)  # a preset's vocabulary: the set's caption words
    with first_per_storage(training_args, "model preset"):
        checkpoint = resolve_checkpoint(model_args.model_name_or_path, work_dir, model_args.preset_seed, spec)
    model, processor = load(checkpoint, model_args, data_args, training_args)
    inputs = run_inputs(dataset, source, processor, model.config, model_args, data_args, training_args)
    # Saved with the model for the predictor; a decoder's generate() need not read it by itself (see trainer.py).
    model.generation_config.max_new_tokens = inputs.max_new_tokens
    compute_metrics = PoseMetrics.for_run(
        processor.tokenizer,
        inputs.references,
        data_args.caption_column,
        training_args,
        output_dir=Path(str(training_args.output_dir)) if training_args.process_index == 0 else None,
        loc=family_for_config(model.config).loc_vocabulary(processor.tokenizer),
    )
    return RunSetUp(checkpoint, model, processor, model.config, inputs, compute_metrics, write_card)


def _family(model_args: ModelArguments) -> ModelFamily | None:
    """The family of the model's preset or checkpoint; None when it cannot be told yet (the captioner's loading then
    reports what is wrong with the name, as before)."""
    name = model_args.model_name_or_path
    try:
        preset = preset_family(name)
        if preset is not None:
            return model_family_by_name(preset)
        return family_for_checkpoint(name, cache_dir=model_args.cache_dir)
    except (OSError, ValueError):
        return None


def load(
    checkpoint: str, model_args: ModelArguments, data_args: DataArguments, training_args: PoseTrainingArguments
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Model and processor of ``checkpoint`` as the run trains them (label smoothing, caption tokens, attention)."""
    return load_model_and_processor(
        checkpoint,
        training_args.label_smoothing_factor,
        model_args.cache_dir,
        data_args.caption_column,
        model_args.attn_implementation,
    )


def make_trainer(
    setup: RunSetUp,
    data_args: DataArguments,
    training_args: PoseTrainingArguments,
    stop: StopOnSignal,
    trainer_cls: type[PoseCaptionTrainer] | None = None,
    **kwargs: Any,
) -> PoseCaptionTrainer:
    """The run's Trainer (``kwargs``: ``model`` or ``model_init``, and a subclass's own) with the standard callbacks:
    records into each checkpoint, the kept-last rule, a log before each save, the signal stop, the quiet console,
    and the study's ``--keep_epochs`` / ``--train_eval_samples``."""
    callbacks: list[TrainerCallback] = [RunRecordCallback(setup.inputs.record), KeepLastUntilScored()]
    trainer: PoseCaptionTrainer = (trainer_cls or setup.trainer_cls)(
        args=training_args,
        compute_metrics=setup.compute_metrics,
        callbacks=[*callbacks, LogBeforeSaves(), stop],
        optimizer_cls_and_kwargs=optimizer_cls_and_kwargs(training_args),
        **setup.inputs.trainer_kwargs(setup.processor, setup.model_config, data_args, training_args),
        **kwargs,
    )
    setup.compute_metrics.name = lambda: f"step-{trainer.state.global_step:06d}"
    quiet_console(trainer)  # headline lines on the console; files and TensorBoard get every key
    for callback in study_callbacks(trainer, setup.inputs.train, data_args):
        trainer.add_callback(callback)
    return trainer


@dataclass
class RunEnd:
    """What the end of a run found: every metric it reports, the training history and the checkpoint choice."""

    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # log_history before the final evaluation (the curves)
    choice: dict[str, Any] | None = None


def end_run(
    trainer: PoseCaptionTrainer,
    setup: RunSetUp,
    data_args: DataArguments,
    train_result: TrainOutput | None,
    resumed_from: ResumePoint | None = None,
    final_evaluation: bool = True,
    summary: bool = True,
) -> RunEnd:
    """After ``train()`` (``train_result`` None: an evaluation-only run): save model and records, the whole-run
    training figures and the checkpoint choice; the final evaluation (the best checkpoint under
    ``load_best_model_at_end``) unless ``final_evaluation`` is off; then card, plots, overlays and the summary."""
    args = trainer.args
    output_dir = Path(str(args.output_dir))
    record = setup.inputs.record
    end = RunEnd()
    if train_result is not None:
        trainer.save_model()
        if trainer.is_world_process_zero():
            record.save(output_dir)
        train_metrics = whole_run_train_metrics(train_result.metrics, trainer.state, resumed_from)
        end.metrics.update(train_metrics)
        trainer.save_metrics("train", train_metrics)
        trainer.save_state()
        end.history = list(trainer.state.log_history)  # the curves stop here, before the final evaluation
        end.choice = checkpoint_choice(trainer.state, args, data_args.eval_split, len(setup.inputs.eval))
        if trainer.is_world_process_zero():
            save_checkpoint_choice(end.choice, output_dir)
    if args.do_eval and final_evaluation:
        setup.compute_metrics.name = lambda: "final"
        eval_metrics = trainer.evaluate()
        end.metrics.update(eval_metrics)
        trainer.save_metrics("eval", eval_metrics)  # every key; the summary shows the headline ones
    if trainer.is_world_process_zero():
        if train_result is not None:  # an evaluation-only run saved no model to describe
            setup.write_card(output_dir)
        data_note = synthetic_data_note(flatten_run_config(record.config))  # plots and summary say "synthetic"
        plot_training_curves(end.history, output_dir, data_note)
        plot_train_validation(end.history, output_dir, data_note)
        latest = setup.compute_metrics.latest  # the last evaluation's joints (a diverged model's would be noise)
        if latest and data_args.num_overlays > 0 and final_evaluation:
            eval_split, refs = setup.inputs.eval, setup.inputs.references
            n = min(data_args.num_overlays, len(eval_split))
            images = [eval_split[i][data_args.image_column] for i in range(n)]
            write_overlays(
                images, refs.names[:n], latest["xy"][:n], latest["found"][:n], refs.xy[:n], output_dir, refs.spec
            )
        if summary:
            print(run_summary(output_dir, end.history, end.metrics, end.choice, args))
            if data_note:
                print(f"  data: {data_note}")
    return end
