"""Training into a folder that already holds a run: stop, start clean, or continue, never mix two runs.

As in transformers' example scripts, a previous run in ``--output_dir`` is an error unless the user says what to
do with it: ``--overwrite_output_dir`` deletes its outputs first, ``--resume_from_checkpoint`` continues it. The
inputs training caches there (the built sample dataset, a saved preset) are kept: they are the same next time; so is
``analysis/``, the user's analyses of the previous run, which no run re-creates (the overwrite says it kept them).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from blip_pose.run_folder import ANALYSIS_DIR, CACHED_INPUTS, RunFolder
from blip_pose.training.arguments import ConfigError, PoseTrainingArguments

logger = logging.getLogger(__name__)
#: The user's own work beside a run (``python -m blip_pose analyze`` writes here): never deleted by an overwrite.
USER_FOLDERS = (ANALYSIS_DIR,)


def _outputs(folder: Path) -> list[Path]:
    """Everything in ``folder`` but the cached inputs and the user's analyses."""
    kept = (*CACHED_INPUTS, *USER_FOLDERS)
    return sorted(p for p in folder.iterdir() if not any(p.match(pattern) for pattern in kept))


def check_output_dir(args: PoseTrainingArguments) -> None:
    """Refuse a training run into a non-empty ``output_dir`` unless it resumes or overwrites a previous run.

    ``--overwrite_output_dir`` deletes only a folder recognised as a run (:meth:`blip_pose.run_folder.RunFolder.is_run`
    or TensorBoard logs of a run killed before its first checkpoint); anything else is left alone with an error.
    """
    folder = Path(str(args.output_dir))
    if not args.do_train or not folder.is_dir() or args.resume_from_checkpoint:
        return
    outputs = _outputs(folder)
    if not outputs:
        return
    shown = ", ".join(p.name for p in outputs[:4]) + (f" and {len(outputs) - 4} more" if len(outputs) > 4 else "")
    if not (RunFolder(folder).is_run() or RunFolder(folder).tensorboard.is_dir()):
        raise ConfigError(
            f"--output_dir {folder} is not empty ({shown}) and holds no training run; "
            "choose a new or empty folder (--overwrite_output_dir deletes only a previous run)"
        )
    if not args.overwrite_output_dir:
        raise ConfigError(
            f"--output_dir {folder} holds a previous run ({shown}); pass --overwrite_output_dir to start clean "
            "or --resume_from_checkpoint last to continue it"
        )
    for path in outputs:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    logger.warning("--overwrite_output_dir: deleted the previous run in %s (%s)", folder, shown)
    for name in USER_FOLDERS:
        if (folder / name).is_dir():
            logger.warning("--overwrite_output_dir: kept %s (analyses of the previous run)", folder / name)
