"""Forked worker processes never run a Python-level SIGINT/SIGTERM handler, from their first instruction on.

Every parallel step of the project forks: ``datasets``' ``num_proc`` pool and its queue manager (the build, the
synthetic build, any ``Dataset.map`` with ``num_proc`` such as a pixel cache) and torch's DataLoader workers. The
pool ends with ``Pool.terminate()``: the main process takes the task queue's read lock, then SIGTERMs each worker
and joins it, so a worker that survives its SIGTERM blocks on that lock (``SimpleQueue.get`` at
``SemLock.__enter__``) and the join waits forever.

A worker survived because it inherited the parent's Python handler (the build CLI's or the training run's). A
Python handler is only a flag set in C and run later by the interpreter, and a forked child clears those flags
while it re-initialises (CPython's ``_PySignal_AfterFork``), before any ``os.register_at_fork`` hook can reset the
handler. On a loaded machine a worker forked just before the pool ends is often not scheduled until its SIGTERM
has come: the signal was dropped, and the build hung after it had finished (1 build in 10 at load 5). Resetting the
handler in an after-fork hook (the earlier fix) only narrowed that window.

So the window is closed, not narrowed: the forking thread blocks SIGINT and SIGTERM around ``fork()``. A signal
sent to the child before it is ready stays pending in the kernel (no flag to clear), the child sets SIGTERM to the
default (die at once, wherever it is) and SIGINT to ignored (a terminal sends it to the whole group; the main
process decides), and only then unblocks: a pending SIGTERM now kills it. The parent restores its mask at once.
This needs no change in ``datasets``' pool and holds for any fork made while a Python handler is installed, from
any thread (the pool's worker-handler thread forks replacement workers).
"""

from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_saved = threading.local()  # the forking thread's signal mask, between the before and after hooks
_installed = False


def _has_python_handler() -> bool:
    """Whether a fork now would hand the child a Python handler someone installed (Python's own default SIGINT
    handler alone is left as Python leaves it)."""
    term, interrupt = (signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT))
    return callable(term) or (callable(interrupt) and interrupt is not signal.default_int_handler)


def _before() -> None:
    _saved.mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS) if _has_python_handler() else None


def _after_in_parent() -> None:
    mask, _saved.mask = getattr(_saved, "mask", None), None
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _after_in_child() -> None:
    mask, _saved.mask = getattr(_saved, "mask", None), None
    if mask is None:
        return
    for signum, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.SIG_IGN)):
        if callable(signal.getsignal(signum)):
            signal.signal(signum, default)  # the child's only thread is its main thread: allowed here
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a SIGTERM that came meanwhile is delivered now, and kills


def guard_forks() -> None:
    """Install the fork hooks once per process; call before installing a Python SIGINT/SIGTERM handler."""
    global _installed
    if not _installed:
        os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
        _installed = True
