"""Pushing to the Hugging Face Hub: a run's model folder, the built dataset, the metric module as a Space.

A Space runs from its own files and PyPI, and this project is not on PyPI: the metric Space (like the demo Space of
:mod:`blip_pose.space`) carries a copy of the ``blip_pose`` package source made by :func:`copy_package` at push time,
so the one caption module stays the single source of truth.

What a model push uploads is decided by :func:`model_upload_files` alone: the safetensors weights, configs,
processor/tokenizer files, the model's records (``preprocessing.json``, ``run_config.json``, ``keypoints.json``:
:data:`blip_pose.run_folder.MODEL_RECORDS`) and the card, optionally the plots; never
checkpoints, ``training_args.bin`` (a pickle), optimizer states, TensorBoard logs or prediction dumps. The token
comes from huggingface_hub (``HF_TOKEN`` or ``hf auth login``) and is never printed or written here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi

from blip_pose import metric_path
from blip_pose.card import write_model_card
from blip_pose.checkpoint import CONFIG_FILES, PROCESSOR_FILES, WEIGHT_FILES, missing_processor_parts
from blip_pose.hub_auth import hub_api, reaching_hub
from blip_pose.run_folder import CARD_FILE, MODEL_RECORDS, PLOTS_DIR, PREPROCESSING_FILE, RunFolder

#: Files that must exist before a model folder is pushed (the card is rendered when missing).
REQUIRED_FILES = ("config.json", PREPROCESSING_FILE)
#: The metric module, installed with the package (a checkout's metrics/pose_threshold_accuracy links to it).
DEFAULT_METRIC_DIR = Path(metric_path())
METRIC_REQUIRED = ("README.md", "app.py", "requirements.txt")
PACKAGE_DIR = Path(__file__).resolve().parent


def model_upload_files(output_dir: str | Path, *, include_plots: bool = False) -> list[str]:
    """The files of ``output_dir`` a model push uploads (top level only, sorted).

    Other sub-folders (``checkpoint-*``, ``runs``, ``predictions``, ``overlays``: validation images) are never
    included; ``include_plots`` adds the training curves (``*.png`` and ``plots/*.png``).
    """
    output_dir = Path(output_dir)
    names = {*WEIGHT_FILES, *CONFIG_FILES, *PROCESSOR_FILES, *MODEL_RECORDS, CARD_FILE}
    files = []
    for path in output_dir.iterdir():
        shard = path.name.startswith("model-") and path.name.endswith(".safetensors")
        if path.is_file() and (path.name in names or shard or (include_plots and path.suffix == ".png")):
            files.append(path.name)
    if include_plots:
        plots = RunFolder(output_dir).plots.glob("*.png")
        files.extend(f"{PLOTS_DIR}/{p.name}" for p in plots if p.is_file())
    return sorted(files)


def check_model_folder(output_dir: str | Path) -> None:
    """Refuse a folder that would make an unusable model repo, naming what is missing."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise FileNotFoundError(f"{output_dir}: no such model folder")
    missing = [name for name in REQUIRED_FILES if not (output_dir / name).is_file()]
    if not any((output_dir / name).is_file() for name in WEIGHT_FILES):
        missing.append("model.safetensors")
    missing += [names[0] for names in missing_processor_parts(output_dir).values()]
    if missing:
        pickles = sorted(p.name for p in output_dir.glob("pytorch_model*.bin"))
        hint = f" (found {', '.join(pickles)}: only safetensors weights are pushed)" if pickles else ""
        raise FileNotFoundError(f"{output_dir}: cannot push, missing {', '.join(missing)}{hint}")


def describe_upload(folder: str | Path, files: Iterable[str], repo_id: str, repo_type: str) -> str:
    """What a push would do: the target repo, then each file with its size, and the total."""
    folder = Path(folder)
    sizes = {name: (folder / name).stat().st_size for name in files}
    url = f"https://huggingface.co/{'spaces/' if repo_type == 'space' else ''}{repo_id}"
    lines = [f"would upload {len(sizes)} file(s), {_size(sum(sizes.values()))}, to the {repo_type} repo {url}:"]
    lines += [f"  {_size(size):>9}  {name}" for name, size in sizes.items()]
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]  # int -> float
    raise AssertionError("unreachable")


def copy_package(out_dir: str | Path) -> Path:
    """A copy of the ``blip_pose`` package source in ``out_dir/blip_pose`` (for a Space; no caches)."""
    target = Path(out_dir) / "blip_pose"
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "metric"))
    return target


def _upload(
    api: HfApi,
    folder: Path,
    files: Iterable[str],
    repo_id: str,
    repo_type: str,
    message: str,
    private: bool = False,
) -> str:
    """Create (or reuse) the repo and commit ``files`` of ``folder``; returns the commit URL."""
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files]
    sdk = "gradio" if repo_type == "space" else None
    with reaching_hub(f"{folder} to {repo_id}"):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, space_sdk=sdk)
        commit = api.create_commit(repo_id=repo_id, repo_type=repo_type, operations=operations, commit_message=message)
    return str(getattr(commit, "commit_url", commit))


def push_model(
    output_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    include_plots: bool = False,
    render_card: bool = True,
) -> str:
    """Create (or reuse) the model repo and upload :func:`model_upload_files`; returns the commit URL.

    ``render_card`` re-renders ``README.md`` first so that its usage snippet and metadata name ``repo_id``.
    """
    output_dir = Path(output_dir)
    check_model_folder(output_dir)
    api = hub_api(token)
    if render_card or not RunFolder(output_dir).card.is_file():
        write_model_card(output_dir, repo_id=repo_id)
    files = model_upload_files(output_dir, include_plots=include_plots)
    message = f"Upload BLIP pose model from {output_dir.name}"
    return _upload(api, output_dir, files, repo_id, "model", message, private)


def metric_upload_files(folder: str | Path) -> list[str]:
    """Every file of the metric module folder (relative POSIX paths, sorted), without caches and hidden files."""
    folder = Path(folder)
    files = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        hidden = any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
        if path.is_file() and path.suffix != ".pyc" and not hidden:
            files.append(rel.as_posix())
    return sorted(files)


def check_metric_folder(folder: str | Path) -> None:
    """An evaluate module Space needs its script (``<folder name>.py``), a card with Space metadata, ``app.py`` and
    ``requirements.txt``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no metric module folder")
    missing = [name for name in (f"{folder.name}.py", *METRIC_REQUIRED) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: cannot push the metric Space, missing {', '.join(missing)}")


def write_metric_space(out_dir: str | Path, folder: str | Path = DEFAULT_METRIC_DIR) -> list[str]:
    """The metric Space in ``out_dir`` (new or empty): the module folder's files and a copy of ``blip_pose``, whose
    caption parser and metric math the module imports; its ``requirements.txt`` names only PyPI packages."""
    folder, out = Path(folder), Path(out_dir)
    check_metric_folder(folder)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: not empty; the Space folder is written to a new or empty folder")
    shutil.copytree(folder, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    copy_package(out)
    return metric_upload_files(out)


def push_metric(
    repo_id: str,
    folder: str | Path = DEFAULT_METRIC_DIR,
    *,
    private: bool = False,
    token: str | None = None,
) -> str:
    """Create (or reuse) a Gradio Space and upload the metric Space (:func:`write_metric_space`); the commit URL."""
    import tempfile

    api = hub_api(token)
    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space"
        files = write_metric_space(space, folder)
        message = f"Upload evaluate module {Path(folder).name}"
        return _upload(api, space, files, repo_id, "space", message, private)
