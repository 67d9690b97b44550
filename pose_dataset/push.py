"""Upload a built folder to the Hugging Face Hub as a dataset repository.

The token comes from ``HF_TOKEN`` or the stored login (``hf auth login``), as everywhere in huggingface_hub; it is
never printed or logged here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from blip_pose.hub_auth import hub_api, reaching_hub
from pose_dataset.card import write_card
from pose_dataset.export import check_splits, load_reports, split_sizes
from pose_dataset.staging import MARKER, is_ours


def check_folder(folder: str | Path) -> None:
    """Refuse to upload anything but a complete folder this project built: marker, the card the reports give,
    parquet rows as reported, no empty split."""
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder}: no README.md dataset card; run `python -m mpii_pose_dataset build` first")
    if not is_ours(folder):
        raise ValueError(f"{folder}: no {MARKER}; only folders written by `mpii_pose_dataset build` are pushed")
    reports = load_reports(folder)
    for name, report in reports.items():
        sizes = split_sizes(folder, name)
        if sizes != report["examples"]:
            raise ValueError(
                f"{folder}: config {name!r} has parquet rows {sizes} but its report says "
                f"{report['examples']}; rebuild it before pushing"
            )
        check_splits(name, report)
    with tempfile.TemporaryDirectory() as tmp:
        if write_card(tmp, reports).read_bytes() != (folder / "README.md").read_bytes():
            raise ValueError(
                f"{folder / 'README.md'}: the dataset card does not match the build reports (edited, or left by an "
                "interrupted build); rebuild the folder before pushing"
            )


def push(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create (or reuse) the dataset repo and upload the folder; returns the commit URL."""
    check_folder(folder)
    api = hub_api(token)
    with reaching_hub(f"{folder} to {repo_id}"):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="Upload mpii_pose_caption (built by mpii_pose_dataset)",
            ignore_patterns=[".build-*", ".build-*/**", MARKER],
        )
    return str(getattr(commit, "commit_url", commit))
