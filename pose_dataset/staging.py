"""All-or-nothing writes of a dataset folder: build beside it, swap it in by rename, never leave half a folder.

A build writes the complete new folder (previous configs hard-linked in, the rebuilt ones fresh, card, reports,
marker) into ``.<name>.staging-*`` next to the output and then exchanges the two folders in one ``renameat2``
(``RENAME_EXCHANGE``) call, so a reader sees the old folder or the new one and nothing between. Where the kernel
lacks the exchange, two renames are used and a build that died between them is undone by the next one
(:func:`recover`). A crash or signal before the swap removes the staging folder and leaves the output untouched.

The marker file says "this project wrote this folder": a non-empty folder without it is someone else's and is
only replaced with ``overwrite=True``.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pose_dataset.signals import interruptible

MARKER = ".mpii_pose_dataset.json"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class NotOurFolderError(ValueError):
    """The output folder holds files this project did not write."""


def is_ours(folder: str | Path) -> bool:
    """Whether ``folder`` carries the marker of a dataset folder written by this project."""
    try:
        return json.loads((Path(folder) / MARKER).read_text()).get("writer") == "mpii_pose_dataset"
    except (OSError, ValueError, AttributeError):
        return False


def write_marker(folder: Path) -> None:
    (folder / MARKER).write_text(json.dumps({"writer": "mpii_pose_dataset", "layout": 1}) + "\n")


def check_output(output: Path, overwrite: bool = False) -> None:
    """Refuse a file, or a non-empty folder that is not ours (unless ``overwrite``)."""
    if output.exists() and not output.is_dir():
        raise NotOurFolderError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not is_ours(output) and not overwrite:
        raise NotOurFolderError(
            f"{output}: not empty and not a dataset folder written by mpii_pose_dataset (no {MARKER}); "
            "refusing to replace its files, pass --overwrite to replace the whole folder"
        )


def _leftovers(output: Path, kind: str) -> list[Path]:
    return sorted(output.parent.glob(f".{output.name}.{kind}-*"))


def recover(output: Path) -> None:
    """Undo a two-rename swap that died halfway: put the previous folder back; drop stale staging folders."""
    previous = _leftovers(output, "previous")
    if previous and not output.exists():
        os.rename(previous[-1], output)
        previous = previous[:-1]
    for path in previous + _leftovers(output, "staging"):
        shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the platform cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        errno = ctypes.get_errno()
        if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no exchange on this filesystem / kernel
            return False
        raise OSError(errno, os.strerror(errno), str(b))
    return True


def swap_in(stage: Path, output: Path) -> None:
    """Make ``stage`` the new ``output``; the previous output (if any) is deleted afterwards."""
    if not output.exists():
        os.rename(stage, output)
        return
    if _exchange(stage, output):
        shutil.rmtree(stage)  # now holds the previous folder
        return
    previous = output.parent / f".{output.name}.previous-{os.getpid()}"
    os.rename(output, previous)  # a death right here is undone by recover()
    os.rename(stage, output)
    shutil.rmtree(previous)


def _link_previous(output: Path, stage: Path) -> None:
    """Copy the previous folder into the stage; parquet shards are hard-linked (never written in place, and too big
    to copy), everything else (card, reports: rewritten in place by a build) is copied so the output stays intact."""

    def link(src: str, dst: str) -> None:
        if src.endswith(".parquet"):
            try:
                os.link(src, dst)
                return
            except OSError:
                pass
        shutil.copy2(src, dst)

    shutil.copytree(output, stage, copy_function=link, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".build-*"))


@contextmanager
def staged(output: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder holding the current contents of ``output`` (when ours); swap it in on success.

    Any exception, or SIGINT/SIGTERM (turned into one by :func:`~pose_dataset.signals.interruptible`), removes
    the staging folder and leaves ``output`` as it was.
    """
    output = Path(output).expanduser().absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    # Wherever the build runs (the CLI, a training run, a notebook), a signal must reach the clean-up below.
    with interruptible():
        recover(output)
        check_output(output, overwrite)
        stage = Path(tempfile.mkdtemp(prefix=f".{output.name}.staging-", dir=output.parent))
        try:
            if is_ours(output):
                _link_previous(output, stage)
            write_marker(stage)
            yield stage
            swap_in(stage, output)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
