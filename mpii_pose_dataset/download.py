"""Where the MPII release lives: a folder the user downloaded, or the official archives fetched by ``datasets``.

The official archives unpack to ``images/*.jpg`` (``mpii_human_pose_v1.tar.gz``, 12.9 GB) and
``mpii_human_pose_v1_u12_2/mpii_human_pose_v1_u12_1.mat`` (``mpii_human_pose_v1_u12_2.zip``). A user's folder may
hold the ``.mat`` at the top or one level down; the images are always under ``images/``.

MPII's standard protocol (:mod:`mpii_pose_dataset.standard_protocol`) reads mmpose's annotation archive
(:data:`STANDARD_URL`: ``mpii_train.json``, ``mpii_val.json``, ``mpii_gt_val.mat``) beside the official images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the hint: importing datasets is slow and the path helpers do not need it
    import datasets

MPII_URLS: dict[str, str] = {
    "images": "https://datasets.d2.mpi-inf.mpg.de/andriluka14cvpr/mpii_human_pose_v1.tar.gz",
    "annotations": "https://datasets.d2.mpi-inf.mpg.de/andriluka14cvpr/mpii_human_pose_v1_u12_2.zip",
}
ANNOTATION_FILE = "mpii_human_pose_v1_u12_1.mat"
#: mmpose's annotation files of the standard train/validation split (HRNet's ``data/mpii/annot/`` holds the same).
STANDARD_URL = "https://download.openmmlab.com/mmpose/datasets/mpii_annotations.tar"
STANDARD_TRAIN, STANDARD_VAL, STANDARD_HEAD_BOXES = "mpii_train.json", "mpii_val.json", "mpii_gt_val.mat"


def find_annotations(root: str | Path) -> Path:
    """The annotation ``.mat`` under ``root`` (the official name first, else the only ``.mat`` found)."""
    root = Path(root)
    if root.is_file():
        return root
    if not root.is_dir():
        raise FileNotFoundError(f"MPII folder not found: {root}")
    for candidate in (root / ANNOTATION_FILE, *sorted(root.glob(f"*/{ANNOTATION_FILE}"))):
        if candidate.is_file():
            return candidate
    mats = sorted(root.glob("*.mat")) or sorted(root.glob("*/*.mat"))
    if len(mats) == 1:
        return mats[0]
    if not mats:
        raise FileNotFoundError(f"{root}: no MPII annotation file ({ANNOTATION_FILE} or another .mat) found")
    raise FileNotFoundError(
        f"{root}: several .mat files ({', '.join(m.name for m in mats)}); name the annotation "
        f"file {ANNOTATION_FILE} or leave only it in the --mpii-dir folder"
    )


def find_images(root: str | Path) -> Path:
    """The ``images/`` folder under ``root``."""
    images = Path(root) / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"{root}: no images/ folder (the MPII JPEGs go in {images})")
    return images


def download_release(dl_manager: datasets.DownloadManager) -> tuple[Path, Path]:
    """Fetch and unpack the official archives (cached by ``datasets``); returns (annotation file, images folder)."""
    paths = dl_manager.download_and_extract(dict(MPII_URLS))
    return find_annotations(paths["annotations"]), find_images(paths["images"])


def find_standard_files(root: str | Path) -> Path:
    """The folder holding ``mpii_train.json`` and ``mpii_val.json`` (``root`` or one level down, as the archive
    unpacks); ``mpii_gt_val.mat`` is looked for beside them by the build."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"standard-protocol folder not found: {root}")
    for folder in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if (folder / STANDARD_TRAIN).is_file() and (folder / STANDARD_VAL).is_file():
            return folder
    raise FileNotFoundError(f"{root}: no {STANDARD_TRAIN} and {STANDARD_VAL} (mmpose's MPII annotation files) found")


def download_standard(dl_manager: datasets.DownloadManager, images: Path | None = None) -> tuple[Path, Path]:
    """Fetch and unpack mmpose's annotation archive and, unless ``images`` names a folder of them already, the
    official images (cached by ``datasets``); returns (folder of the standard files, images folder)."""
    urls = (
        {"standard": STANDARD_URL} if images is not None else {"images": MPII_URLS["images"], "standard": STANDARD_URL}
    )
    paths = dl_manager.download_and_extract(urls)
    return find_standard_files(paths["standard"]), images if images is not None else find_images(paths["images"])
