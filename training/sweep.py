#!/usr/bin/env python
"""The method's hyper-parameter sweep (Table 3, Figures 4-6) with ``Trainer.hyperparameter_search``.

    python training/sweep.py training/configs/sweep.yaml                  # optuna's grid sampler, trials in turn
    python training/sweep.py training/configs/sweep.yaml --design full    # all 27 settings
    python training/sweep.py training/configs/sweep.yaml --backend ray    # Ray Tune, 1 GPU a trial
    python training/sweep.py training/configs/sweep_demo.yaml             # offline, sample + tiny preset, CPU

The config holds ``training/run.py``'s keys plus the sweep's (design, batch_sizes, learning_rates, optimizers,
baseline_*, backend). Each trial is a whole run in ``<output_dir>/<setting>/``; the sweep writes
``sweep_results.csv``, ``sweep_summary.md`` and ``figures/<factor>.png``. The same command after a kill runs only
the trials that did not finish.
"""

from __future__ import annotations

import logging

import transformers
from transformers import set_seed

from blip_pose.training.arguments import (
    DataArguments,
    ModelArguments,
    PoseTrainingArguments,
    parse_dataclasses,
)
from blip_pose.training.callbacks import RunRecordCallback, study_callbacks
from blip_pose.training.data import load_pose_dataset
from blip_pose.training.errors import run_main
from blip_pose.training.evaluation import PoseMetrics
from blip_pose.training.inputs import run_inputs
from blip_pose.training.modeling import load_model_and_processor, resolve_checkpoint
from blip_pose.training.report import KeepLastUntilScored, log_headlines_only
from blip_pose.training.sweep import SweepArguments, SweepPlan, SweepTrainer, search, write_outputs
from blip_pose.training.sweep_results import TrialResult
from mpii_pose_dataset.sample import resolve_dataset

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> list[TrialResult]:
    sweep_args, model_args, data_args, training_args = parse_dataclasses(
        (SweepArguments, ModelArguments, DataArguments, PoseTrainingArguments), argv, prog="training/sweep.py"
    )
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=training_args.get_process_log_level()
    )
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    logging.getLogger("blip_pose.training.sweep").setLevel(logging.INFO)  # one line per trial start and end
    training_args.remove_unused_columns = False
    training_args.predict_with_generate = True
    training_args.logging_nan_inf_filter = False  # a diverged trial must log its NaN loss to be recorded as such
    set_seed(training_args.seed)
    plan = SweepPlan.make(sweep_args, training_args)
    logger.warning(
        "sweep %s: %d settings, %d finished before, %d to run now (%s backend) in %s",
        plan.design,
        len(plan.settings),
        len(plan.results()),
        len(plan.todo),
        sweep_args.backend,
        plan.root,
    )

    if plan.todo:
        # 1. The starting checkpoint (a preset is saved once) and a fresh model from it for every trial.
        with training_args.main_process_first(desc="model preset"):
            checkpoint = resolve_checkpoint(model_args.model_name_or_path, plan.root, model_args.preset_seed)
        model_loading = (
            training_args.label_smoothing_factor,
            model_args.cache_dir,
            data_args.caption_column,
            model_args.attn_implementation,
        )
        model, processor = load_model_and_processor(checkpoint, *model_loading)
        text_config = model.config.text_config
        del model  # model_init loads each trial's own

        # 2. Data, checked once for all trials.
        with training_args.main_process_first(desc="dataset"):
            source = resolve_dataset(data_args.dataset_name, data_args.dataset_config_name, plan.root)
            dataset = load_pose_dataset(source, data_args.dataset_config_name, model_args.cache_dir)
        inputs = run_inputs(dataset, source, processor, text_config, model_args, data_args, training_args)
        train_split, eval_split, eval_references, record, max_new_tokens = inputs

        def model_init():
            trial_model, _ = load_model_and_processor(checkpoint, *model_loading)
            trial_model.generation_config.max_new_tokens = max_new_tokens
            return trial_model

        # 3. One Trainer; hyperparameter_search re-initialises the model and sets each trial's arguments.
        compute_metrics = PoseMetrics.for_run(
            processor.tokenizer,
            eval_references,
            data_args.caption_column,
            training_args,
            output_dir=None,  # set to each trial's folder
        )
        n_overlays = min(data_args.num_overlays, len(eval_split))
        trainer = SweepTrainer(
            model_init=model_init,
            args=training_args,
            compute_metrics=compute_metrics,
            callbacks=[RunRecordCallback(record), KeepLastUntilScored()],
            **inputs.trainer_kwargs(processor, text_config, data_args, training_args),
            plan=plan,
            record=record,
            run_arguments=(model_args, data_args),
            overlays=([eval_split[i][data_args.image_column] for i in range(n_overlays)], eval_references),
        )
        log_headlines_only(trainer)
        for callback in study_callbacks(trainer, train_split, data_args):  # --keep_epochs, --train_eval_samples
            trainer.add_callback(callback)

        # 4. The search: every trial trains, evaluates and records itself in its own folder.
        search(trainer, plan, sweep_args)

    # 5. Results of every finished trial (this run's and earlier ones'): CSV, summary, figures.
    results, paths = write_outputs(plan)
    logger.warning(
        "sweep: %d of %d settings recorded; wrote %s", len(results), len(plan.settings), ", ".join(map(str, paths))
    )
    return results


if __name__ == "__main__":
    run_main(main)  # bad input: one line, exit 2
