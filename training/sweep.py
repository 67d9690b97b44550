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

from blip_pose.card import write_model_card
from blip_pose.training.arguments import (
    ConfigError,
    DataArguments,
    ModelArguments,
    PoseTrainingArguments,
    parse_dataclasses,
)
from blip_pose.training.errors import run_main
from blip_pose.training.session import configure, load, make_trainer, set_up
from blip_pose.training.signals import StopOnSignal
from blip_pose.training.sweep import SweepArguments, SweepPlan, SweepTrainer, search, write_outputs
from blip_pose.training.sweep_results import TrialResult
from blip_pose.training.trainer import PoseCaptionTrainer
from pose_dataset import resolve_dataset

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None, stop: StopOnSignal | None = None) -> list[TrialResult]:
    stop = stop or StopOnSignal()  # the script installs its signal handlers; a caller of main() keeps its own
    sweep_args, model_args, data_args, training_args = parse_dataclasses(
        (SweepArguments, ModelArguments, DataArguments, PoseTrainingArguments), argv, prog="training/sweep.py"
    )
    configure(training_args)
    logging.getLogger("blip_pose.training.sweep").setLevel(logging.INFO)  # one line per trial start and end
    training_args.logging_nan_inf_filter = False  # a diverged trial must log its NaN loss to be recorded as such
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
        # 1. What every trial shares, set up and checked once as for a run: the starting checkpoint (a preset is
        # saved once), the data (sample/synthetic built into the sweep's folder), inputs and compute_metrics.
        setup = set_up(
            model_args,
            data_args,
            training_args,
            resolve_dataset,
            work_dir=plan.root,
            write_card=write_model_card,
            check_output=False,
        )
        if setup.trainer_cls is not PoseCaptionTrainer:  # a heatmap model (issue 25): trained by run.py only
            raise ConfigError(f"--model_name_or_path {model_args.model_name_or_path}: the sweep trains captioners only")
        setup.model = None  # model_init loads each trial's own

        def model_init():
            trial_model, _ = load(setup.checkpoint, model_args, data_args, training_args)
            trial_model.generation_config.max_new_tokens = setup.inputs.max_new_tokens
            return trial_model

        # 2. One Trainer with a run's callbacks; hyperparameter_search re-initialises the model and sets each
        # trial's arguments, and each trial ends as a run does (session.end_run) in its own folder.
        trainer = make_trainer(
            setup,
            data_args,
            training_args,
            stop,
            trainer_cls=SweepTrainer,
            model_init=model_init,
            plan=plan,
            run_setup=setup,
            run_arguments=(model_args, data_args),
        )

        # 3. The search: every trial trains, evaluates and records itself in its own folder.
        search(trainer, plan, sweep_args)

    # 4. Results of every finished trial (this run's and earlier ones'): CSV, summary, figures.
    results, paths = write_outputs(plan)
    logger.warning(
        "sweep: %d of %d settings recorded; wrote %s", len(results), len(plan.settings), ", ".join(map(str, paths))
    )
    return results


if __name__ == "__main__":
    run_main(lambda: main(stop=StopOnSignal().install()))  # bad input: one line, exit 2; a signal: 128 + its number
