#!/usr/bin/env python
"""Fine-tune BLIP to write the 16 MPII joints as a caption (the HF example-script way).

    accelerate launch training/run.py training/configs/demo.yaml
    accelerate launch training/run.py training/configs/paper.yaml --dataset_name mpii_pose_caption
    accelerate launch --multi_gpu training/run.py training/configs/paper.yaml --learning_rate 5e-5

The first positional argument is a YAML/JSON config; flags after it override it. Everything that can be wrong
with the inputs (config keys, dataset columns, splits, images, captions, checkpoint) is checked before training.
"""

from __future__ import annotations

import logging
from pathlib import Path

import transformers
from transformers import set_seed

from blip_pose.card import write_model_card
from blip_pose.run_record import flatten_run_config, synthetic_data_note
from blip_pose.training.arguments import parse_arguments
from blip_pose.training.callbacks import RunRecordCallback, study_callbacks
from blip_pose.training.data import load_pose_dataset
from blip_pose.training.errors import run_main
from blip_pose.training.evaluation import PoseMetrics
from blip_pose.training.inputs import run_inputs
from blip_pose.training.modeling import load_model_and_processor, resolve_checkpoint, resume_checkpoint
from blip_pose.training.output_dir import check_output_dir
from blip_pose.training.plots import plot_training_curves, write_overlays
from blip_pose.training.report import (
    KeepLastUntilScored,
    checkpoint_choice,
    log_headlines_only,
    run_summary,
    save_checkpoint_choice,
)
from blip_pose.training.results import LogBeforeSaves, whole_run_train_metrics
from blip_pose.training.signals import StopOnSignal
from blip_pose.training.sweep_figures import plot_train_validation
from blip_pose.training.trainer import BlipCaptionTrainer, optimizer_cls_and_kwargs
from mpii_pose_dataset.sample import resolve_dataset

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None, stop: StopOnSignal | None = None) -> dict[str, float]:
    stop = stop or StopOnSignal()  # the script installs its signal handlers; a caller of main() keeps its own
    model_args, data_args, training_args = parse_arguments(argv)
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=training_args.get_process_log_level()
    )
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    # The collator reads the raw image and caption columns, and scores need generated captions.
    training_args.remove_unused_columns = False
    training_args.predict_with_generate = True
    set_seed(training_args.seed)
    output_dir = Path(training_args.output_dir)
    check_output_dir(training_args)  # a previous run there: overwrite, resume, or stop

    # 1. Model and processor: a preset is first saved as a checkpoint (by the main process) and loaded like one.
    with training_args.main_process_first(desc="model preset"):
        checkpoint = resolve_checkpoint(model_args.model_name_or_path, output_dir, model_args.preset_seed)
    model, processor = load_model_and_processor(
        checkpoint,
        training_args.label_smoothing_factor,
        model_args.cache_dir,
        data_args.caption_column,
        model_args.attn_implementation,
    )
    text_config = model.config.text_config

    # 2. Data, checked before anything is trained.
    with training_args.main_process_first(desc="dataset"):
        source = resolve_dataset(
            data_args.dataset_name,
            data_args.dataset_config_name,
            output_dir,
            data_args.synthetic_size,
            data_args.synthetic_seed,
        )
        dataset = load_pose_dataset(source, data_args.dataset_config_name, model_args.cache_dir)
    inputs = run_inputs(dataset, source, processor, text_config, model_args, data_args, training_args)
    train_split, eval_split, eval_references, record, max_new_tokens = inputs
    # Saved with the model for the predictor; BLIP's generate() does not read it by itself (see trainer.py).
    model.generation_config.max_new_tokens = max_new_tokens

    # 3. Trainer.
    compute_metrics = PoseMetrics.for_run(
        processor.tokenizer,
        eval_references,
        data_args.caption_column,
        training_args,
        output_dir=output_dir if training_args.process_index == 0 else None,
    )
    trainer = BlipCaptionTrainer(
        model=model,
        args=training_args,
        compute_metrics=compute_metrics,
        callbacks=[RunRecordCallback(record), KeepLastUntilScored(), LogBeforeSaves(), stop],
        optimizer_cls_and_kwargs=optimizer_cls_and_kwargs(training_args),
        **inputs.trainer_kwargs(processor, text_config, data_args, training_args),
    )
    compute_metrics.name = lambda: f"step-{trainer.state.global_step:06d}"
    log_headlines_only(trainer)  # the console shows headline scores; files and TensorBoard get every key
    for callback in study_callbacks(trainer, train_split, data_args):  # --keep_epochs, --train_eval_samples
        trainer.add_callback(callback)

    # 4. Train (or continue a killed run); save model, processor, generation config and the run's records.
    metrics: dict[str, float] = {}
    history: list[dict] = []
    choice = None
    if training_args.do_train:
        resume = resume_checkpoint(training_args.resume_from_checkpoint, output_dir)
        train_result = trainer.train(resume_from_checkpoint=resume)
        stop.raise_if_stopped()
        trainer.save_model()
        if trainer.is_world_process_zero():
            record.save(output_dir)
        train_metrics = whole_run_train_metrics(train_result.metrics, trainer.state, resume)
        metrics.update(train_metrics)
        trainer.log_metrics("train", train_metrics)
        trainer.save_metrics("train", train_metrics)
        trainer.save_state()
        history = list(trainer.state.log_history)  # the curves stop here, before the final evaluation
        choice = checkpoint_choice(trainer.state, training_args, data_args.eval_split, len(eval_split))
        if trainer.is_world_process_zero():
            save_checkpoint_choice(choice, output_dir)

    # 5. Final evaluation (the best checkpoint when load_best_model_at_end) -> predictions/final.jsonl.
    if training_args.do_eval:
        compute_metrics.name = lambda: "final"
        eval_metrics = trainer.evaluate()
        metrics.update(eval_metrics)
        trainer.save_metrics("eval", eval_metrics)  # every key; the summary below shows the headline ones

    # 6. Figures and the model card.
    if trainer.is_world_process_zero():
        if training_args.do_train:  # an evaluation-only run saved no model to describe
            write_model_card(output_dir)
        data_note = synthetic_data_note(flatten_run_config(record.config))  # plots and summary say "synthetic"
        plot_training_curves(history, output_dir, data_note)
        plot_train_validation(history, output_dir, data_note)
        if compute_metrics.latest and data_args.num_overlays > 0:
            n = min(data_args.num_overlays, len(eval_split))
            write_overlays(
                [eval_split[i][data_args.image_column] for i in range(n)],
                eval_references.names[:n],
                compute_metrics.latest["xy"][:n],
                compute_metrics.latest["found"][:n],
                eval_references.xy[:n],
                output_dir,
            )
        print(run_summary(output_dir, history, metrics, choice, training_args))
        if data_note:
            print(f"  data: {data_note}")
    return metrics


if __name__ == "__main__":
    run_main(lambda: main(stop=StopOnSignal().install()))  # bad input: one line, exit 2; a signal: 128 + its number
