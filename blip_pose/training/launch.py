"""``accelerate launch`` with the project's exit rules; it takes exactly ``accelerate launch``'s arguments::

    python -m blip_pose.training.launch training/run.py training/configs/demo.yaml
    python -m blip_pose.training.launch --multi_gpu --num_processes 2 training/run.py training/configs/demo.yaml

accelerate 1.15's launcher reports any failure of the script as its own ``CalledProcessError`` traceback and exit
code 1 after the script's one-line error, and passes no signal to a one-process script: SIGTERM ends the launcher
alone, SIGINT prints a ``KeyboardInterrupt`` traceback. This runs the same launcher in this process, hands SIGTERM
and SIGINT on to the script's processes (a second signal kills them) and waits for them, then exits with the script's
own code: 2 after its one-line error about bad input, 128 + the signal's number after a signal.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil

from blip_pose.training.signals import SIGNALS


def exit_code(returncode: int, script: str) -> int:
    """The script's exit code as the shell reports it; a script killed by a signal (no message of its own) is
    reported here in one line."""
    if returncode >= 0:
        return returncode
    print(f"error: {script} was killed by {signal.Signals(-returncode).name}", file=sys.stderr)
    return 128 - returncode


def main(argv: list[str] | None = None) -> int:
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = launch_command_parser().parse_args(argv)
    received: list[int] = []

    def forward(signum: int, frame: object) -> None:
        received.append(signum)
        for child in psutil.Process().children():
            child.send_signal(signum if len(received) == 1 else signal.SIGKILL)

    for signum in SIGNALS:
        signal.signal(signum, forward)
    try:
        launch_command(args)
    except subprocess.CalledProcessError as err:  # one process: the script has said why
        return exit_code(err.returncode, args.training_script)
    except ChildFailedError as err:  # several processes (torchrun): each script has said why
        return max(exit_code(failure.exitcode, args.training_script) for failure in err.failures.values())
    except SignalException as err:  # torchrun's agent handles the signals itself and has stopped its workers
        print(f"error: {args.training_script} stopped by {err.sigval.name}", file=sys.stderr)
        return 128 + int(err.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
