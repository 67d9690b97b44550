"""SIGINT/SIGTERM during a build: unwind cleanly in the main process, end quietly in forked workers.

Python's default SIGTERM kills the process without running ``finally`` blocks, so the staging folder stayed and
the ``num_proc`` pool workers (forked, waiting on their queue) outlived it. Here the first signal SIGTERMs the
pool workers and queue manager and raises :class:`Interrupted` in the main process: ``datasets`` leaves its
``with Pool(...)`` block, the staging folder is removed, and the CLI prints one line. Forked workers inherit the
handler: they ignore SIGINT (a terminal sends it to the whole group; the main process decides) and exit at once
on SIGTERM. Later signals during the clean-up are ignored, so it is not cut short.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A build stopped by a signal (BaseException, like KeyboardInterrupt: no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_children(every: float = 0.2) -> None:
    """SIGTERM the pool workers and the queue manager now, before datasets shuts the manager down under workers
    still writing to it (each then printed a traceback), and keep doing so until this process exits: the pool's
    worker handler replaces workers it sees die, and a replacement forked after the pool's own terminate() was
    never signalled, so the pool's join waited on it forever."""
    import multiprocess

    def stop() -> None:
        while True:
            for child in multiprocess.active_children():
                child.terminate()
            time.sleep(every)

    for child in multiprocess.active_children():
        child.terminate()
    threading.Thread(target=stop, name="stop-build-children", daemon=True).start()


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` in this process while the block runs."""
    main_pid = os.getpid()
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:  # a forked worker
            if signum == signal.SIGTERM:
                os._exit(128 + signum)
            return
        if fired:
            return
        fired.append(signum)
        _stop_children()
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
