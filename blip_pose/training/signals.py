"""Ending a training run on SIGTERM or SIGINT, or when its launcher is gone, with no process left behind.

accelerate 1.15's one-process launcher starts the script as a child and forwards no signal to it: SIGTERM ends the
launcher at once and left the child training and writing checkpoints; SIGINT to the launcher alone raises
KeyboardInterrupt there and nothing in the child. So the child handles both signals itself and, when a launcher
started it, watches that launcher and stops as if sent SIGTERM once it is gone.

Inside ``trainer.train()`` the first signal ends training at the end of the current step (the Trainer's own stop,
``control.should_training_stop``), so no checkpoint is cut half-written; anywhere else, under several processes
(ranks must not stop at different steps) or on a second signal, the run stops at once. Either way the script ends
with :class:`Interrupted`: one line and exit code 128 + the signal's number.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from blip_pose.forking import guard_forks
from blip_pose.run_folder import RunFolder

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Set by the launchers in the script's environment (accelerate's simple launcher, torchrun).
LAUNCHER_ENV = ("ACCELERATE_USE_CPU", "LOCAL_RANK")


class Interrupted(Exception):
    """The run was stopped by a signal; :attr:`exit_code` is the shell's 128 + the signal's number."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def started_by_launcher() -> bool:
    return any(name in os.environ for name in LAUNCHER_ENV)


class StopOnSignal(TrainerCallback):
    """Signal handlers and launcher watch for one run; pass it to the Trainer's callbacks.

    After ``trainer.train()`` returns, call :meth:`raise_if_stopped`: a run stopped early must not be saved,
    evaluated or carded as if it had finished.
    """

    poll_seconds = 0.5

    def __init__(self) -> None:
        self.signum: int | None = None
        self.cause = ""
        self.training = False
        self.step = 0
        self.max_steps = 0
        self.output_dir: Path | None = None

    def install(self, watch_launcher: bool | None = None) -> StopOnSignal:
        """Handle SIGTERM and SIGINT from now on; watch the parent process when a launcher started this one."""
        guard_forks()  # forked workers (datasets' pools, DataLoader) never run these handlers
        for signum in SIGNALS:
            signal.signal(signum, self._handle)
        if started_by_launcher() if watch_launcher is None else watch_launcher:
            threading.Thread(target=self._watch, args=(os.getppid(),), daemon=True, name="watch-launcher").start()
        return self

    def _watch(self, launcher: int) -> None:
        # Once the launcher is gone this process is re-parented (to 1 unless a subreaper adopts it).
        while os.getppid() == launcher and launcher != 1:
            time.sleep(self.poll_seconds)
        self.cause = f"its launcher, pid {launcher}, ended" if launcher != 1 else "its launcher had ended"
        os.kill(os.getpid(), signal.SIGTERM)  # handled in the main thread, like a signal from outside

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        at_once = self.signum is not None or not self.training or int(os.environ.get("WORLD_SIZE", "1")) > 1
        if at_once:
            raise self._interrupted(signum)
        self.signum = signum
        logger.warning("%s: stopping after step %d (send it again to stop at once)", self._what(signum), self.step + 1)

    def _what(self, signum: int) -> str:
        return self.cause or signal.Signals(signum).name

    def _interrupted(self, signum: int) -> Interrupted:
        where = f"at step {self.step} of {self.max_steps}" if self.max_steps else "before training started"
        message = f"training stopped ({self._what(signum)}) {where}"
        if self.output_dir is not None and RunFolder(self.output_dir).checkpoints():
            message += f"; continue with --resume_from_checkpoint last (checkpoints in {self.output_dir})"
        return Interrupted(signum, message)

    def raise_if_stopped(self) -> None:
        if self.signum is not None:
            raise self._interrupted(self.signum)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.training, self.step, self.max_steps = True, state.global_step, state.max_steps
        self.output_dir = Path(str(args.output_dir))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.step = state.global_step
        if self.signum is not None:
            control.should_training_stop = True

    def on_prediction_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
    ) -> None:
        if self.signum is not None:  # an evaluation inside training can take minutes: stop within a batch
            raise self._interrupted(self.signum)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.training = False
