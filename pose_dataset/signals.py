"""SIGINT/SIGTERM during a build: unwind cleanly in the main process; the pool ends its own workers first.

Python's default SIGTERM kills the process without running ``finally`` blocks, so the staging folder stayed and
the ``num_proc`` pool workers outlived it. Here the first signal ends the running pools and raises
:class:`Interrupted` in the main process: ``datasets`` leaves its ``with Pool(...)`` block, the staging folder is
removed, and the caller reports one line. Later signals during that clean-up are ignored, so it is not cut short.

A pool is only ever ended by its own ``terminate()``: it takes the task queue's read lock, then SIGTERMs each worker
(which never inherits this handler, :mod:`blip_pose.forking`, so it dies at once) and joins it. Killing a worker any
other way can catch it waiting for a task with that lock held, and ``terminate()`` then waits for the lock forever.
The pools are ended before ``datasets`` shuts down its queue manager, which workers still writing to it answered
with a traceback each.

Inside a training run (its own handler installed), the run's handler gets the signal once the build has cleaned
up, so the run ends as it does for any signal: one line, exit code 128 + the signal's number.
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from blip_pose.forking import SIGNALS, guard_forks

_active = False
Handler = Any  # what signal.getsignal answers: a callable, SIG_DFL or default_int_handler


class Interrupted(BaseException):
    """A build stopped by a signal (BaseException, like KeyboardInterrupt: no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _end_pools() -> None:
    """``terminate()`` every running ``multiprocess`` pool of this process (``datasets`` holds them; gc finds them)."""
    import multiprocess.pool

    # type(), not isinstance(): isinstance reads __class__, which lazy modules answer with deprecation warnings.
    for pool in [o for o in gc.get_objects() if issubclass(type(o), multiprocess.pool.Pool)]:
        if pool._state == multiprocess.pool.RUN:
            pool.terminate()


def _interrupted_in(err: BaseException) -> Interrupted | None:
    """The :class:`Interrupted` that ``err`` was raised during, if any: ``datasets`` turns it into a
    ``TimeoutError`` while its pool shuts down (``async_result.get(timeout=0.05)`` in a ``finally``)."""
    seen: BaseException | None = err
    while seen is not None and not isinstance(seen, Interrupted):
        seen = seen.__cause__ or seen.__context__
    return seen


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` in this process while the block runs.

    A no-op inside another ``interruptible()`` block and outside the main thread (only it may handle signals). A
    signal that was ignored stays ignored. When the block ends by a signal and the handler it replaced is one the
    program installed (a training run's), that handler is then called with the signal and decides what follows.
    """
    global _active
    if _active or threading.current_thread() is not threading.main_thread():
        yield
        return
    guard_forks()
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not fired:
            fired.append(signum)
            _end_pools()
            raise Interrupted(signum)

    previous = {s: h for s in SIGNALS if (h := signal.getsignal(s)) not in (signal.SIG_IGN, None)}
    for s in previous:
        signal.signal(s, handler)
    _active = True
    try:
        try:
            yield
        except Exception as err:
            stop = _interrupted_in(err)
            if stop is None:
                raise
            raise stop from None
    except Interrupted as stop:
        _restore(previous)
        outer = previous.get(signal.Signals(stop.signum))
        if callable(outer) and outer is not signal.default_int_handler:
            outer(stop.signum, None)  # e.g. the run's handler raises its own one-line stop
        raise
    finally:
        _restore(previous)
        _active = False


def _restore(previous: dict[signal.Signals, Handler]) -> None:
    for s, h in previous.items():
        signal.signal(s, h)
