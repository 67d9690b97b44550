"""How ``training/run.py`` ends: a mistake in the user's input is one line and exit code 2, a signal one line and
128 + its number; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from blip_pose.training.arguments import ConfigError
from blip_pose.training.data import DataError
from blip_pose.training.modeling import CheckpointError
from blip_pose.training.signals import Interrupted

#: Errors raised for input the user can fix; each names the file, flag, split or checkpoint it is about.
USER_ERRORS = (ConfigError, DataError, CheckpointError)
USER_ERROR_EXIT_CODE = 2


def run_main(main: Callable[[], object]) -> NoReturn:
    try:
        main()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT_CODE)
    except Interrupted as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    sys.exit(0)
