#!/usr/bin/env python
"""Fine-tune BLIP to write the 16 MPII joints as a caption (the HF example-script way).

    accelerate launch training/run.py training/configs/demo.yaml
    accelerate launch training/run.py training/configs/paper.yaml --dataset_name mpii_pose_caption
    accelerate launch --multi_gpu training/run.py training/configs/paper.yaml --learning_rate 5e-5

The first positional argument is a YAML/JSON config; flags after it override it. Everything that can be wrong
with the inputs (config keys, dataset columns, splits, images, captions, checkpoint) is checked before training.
"""

from __future__ import annotations

from pathlib import Path

from blip_pose.card import write_model_card
from blip_pose.training.arguments import parse_arguments
from blip_pose.training.errors import run_main
from blip_pose.training.modeling import resume_checkpoint
from blip_pose.training.session import configure, end_run, make_trainer, set_up
from blip_pose.training.signals import StopOnSignal
from pose_dataset import resolve_dataset


def main(argv: list[str] | None = None, stop: StopOnSignal | None = None) -> dict[str, float]:
    stop = stop or StopOnSignal()  # the script installs its signal handlers; a caller of main() keeps its own
    model_args, data_args, training_args = parse_arguments(argv)
    configure(training_args)
    output_dir = Path(training_args.output_dir)
    resume = resume_checkpoint(training_args.resume_from_checkpoint, output_dir) if training_args.do_train else None

    # 1. Arguments, output folder, model and processor, data: all checked before anything is trained.
    setup = set_up(
        model_args, data_args, training_args, resolve_dataset, work_dir=output_dir, write_card=write_model_card
    )

    # 2. Trainer.
    trainer = make_trainer(setup, data_args, training_args, stop, model=setup.model)

    # 3. Train (or continue a killed run).
    train_result = None
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=resume)
        stop.raise_if_stopped()

    # 4. Save, records, final evaluation (the best checkpoint under load_best_model_at_end), card, plots, summary.
    return end_run(trainer, setup, data_args, train_result, resume).metrics


if __name__ == "__main__":
    run_main(lambda: main(stop=StopOnSignal().install()))  # bad input: one line, exit 2; a signal: 128 + its number
