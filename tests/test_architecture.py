"""Where things live: one-way package arrows, the library importable without a checkout, the preprocessing recipe
travelling with the dataset, and a parallel build identical to a serial one."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from datasets import load_dataset

from blip_pose import dataset_source
from blip_pose.geometry import Preprocessing
from blip_pose.pose_format import CAPTION_COLUMNS, COORDINATE_COLUMNS, caption_column
from blip_pose.training.arguments import DataArguments
from blip_pose.training.data import preprocessing_record, recorded_preprocessing
from mpii_pose_dataset.export import build
from mpii_pose_dataset.features import COLUMN_DOCS
from mpii_pose_dataset.sample import SAMPLE_DIR

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_blip_pose_never_imports_the_dataset_package():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "blip_pose").rglob("*.py")
        if any(name.split(".")[0] in ("mpii_pose_dataset", "pose_dataset") for name in _imported_modules(path))
    ]
    assert offenders == []


def test_the_build_core_imports_no_format_package():
    """``pose_dataset`` names its built-in formats by module path only (``registry.BUILT_IN``), never imports them."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "pose_dataset").rglob("*.py")
        if any(name.split(".")[0] == "mpii_pose_dataset" for name in _imported_modules(path))
    ]
    assert offenders == []


def test_entry_scripts_import_the_library_not_each_other():
    """training/ holds entry scripts that import blip_pose; no top-level module names from a sys.path trick."""
    local = {path.stem for path in (ROOT / "training").glob("*.py")}
    for script in (ROOT / "training").glob("*.py"):
        assert not (_imported_modules(script) & local), script.name
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "pythonpath" not in pyproject


def test_library_imports_from_an_installed_copy(tmp_path):
    """``import blip_pose.training`` works from any folder once the package is installed (no checkout on sys.path)."""
    source, target = tmp_path / "source", tmp_path / "site"
    source.mkdir()  # a copy, so the build leaves no build/ or *.egg-info in the checkout
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("blip_pose", "mpii_pose_dataset", "pose_dataset"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", target, source],
        check=True,
        capture_output=True,
    )
    code = "import blip_pose.training.trainer, blip_pose.training.data, blip_pose; print(blip_pose.__file__)"
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target))


def _assigned_list(path: Path, name: str) -> list[str]:
    """The literal list assigned to ``name`` in a module, read without importing it (the Space app imports gradio)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} assigns no {name}")


def test_hand_written_column_lists_follow_the_caption_table():
    """pose_format's table is the one source of caption columns; the lists written by hand elsewhere (see
    ARCHITECTURE.md, "a caption format") name only its columns, and the card and the flag's help name all of them."""
    assert set(CAPTION_COLUMNS) <= set(COLUMN_DOCS), "a caption column without its line in the dataset card"
    help_text = next(f for f in fields(DataArguments) if f.name == "caption_column").metadata["help"]
    assert set(re.findall(r"\b[a-z_]+_text\b|\btext\b", help_text)) == set(COORDINATE_COLUMNS)
    space = _assigned_list(ROOT / "blip_pose" / "metric" / "pose_threshold_accuracy" / "app.py", "CAPTION_TYPES")
    assert space and set(space) <= set(COORDINATE_COLUMNS)
    with pytest.raises(ValueError, match="no joint coordinates"):
        caption_column("visibility_text")
    with pytest.raises(ValueError, match="unknown caption column"):
        caption_column("txet")


ARCHITECTURE = ROOT / "ARCHITECTURE.md"
MODULE_ROOTS = ("blip_pose", "mpii_pose_dataset", "pose_dataset", "training", "benchmarks")


def _architecture_entries() -> list[str]:
    """The paths of the file table's first column, each from the root: a bare name (`images.py`, `sweep*.py`) is in
    the folder of the path before it in the same cell; a name ending in `/` is a folder."""
    entries = []
    for row in re.findall(r"^\| (`[^|]+)\|", ARCHITECTURE.read_text(), flags=re.M):
        folder = ""
        for name in re.findall(r"`([^`]+)`", row):
            if "/" in name.rstrip("/"):
                folder = name if name.endswith("/") else name.rpartition("/")[0] + "/"
                entries.append(name)
            else:
                entries.append(folder + name)
    return entries


def test_architecture_table_names_every_module_and_only_existing_paths():
    entries = _architecture_entries()
    assert entries, "ARCHITECTURE.md has no file table"
    covered: set[Path] = set()
    for entry in entries:
        matches = [p for p in ROOT.glob(entry.rstrip("/")) if p.exists()]
        assert matches, f"ARCHITECTURE.md names `{entry}`, which does not exist"
        for match in matches:
            covered.update(match.rglob("*.py") if match.is_dir() else [match])
    modules = sorted(
        path.relative_to(ROOT).as_posix()
        for top in MODULE_ROOTS
        for path in (ROOT / top).rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )
    missing = [name for name in modules if ROOT / name not in covered]
    assert missing == [], f"in no row of ARCHITECTURE.md's file table (add each to a row): {missing}"


@pytest.fixture(scope="module")
def small_crop_build(tmp_path_factory):
    """The sample's person_crop config at a non-default size and padding, built with two worker processes."""
    out = tmp_path_factory.mktemp("recipe") / "ds"
    build(out, data_dir=SAMPLE_DIR, configs=["person_crop"], num_proc=2, image_size=96, crop_padding=1.5)
    return out


def test_recipe_travels_with_the_dataset(small_crop_build):
    """Training reads how the images were made from the dataset's own card, never from its config name."""
    expected = Preprocessing("crop", 96, 1.5)
    assert recorded_preprocessing(str(small_crop_build), "person_crop") == expected
    train = load_dataset(str(small_crop_build), "person_crop", split="train")
    assert preprocessing_record(train, str(small_crop_build)) == expected


def test_recipe_of_a_hub_dataset_comes_from_its_card(small_crop_build, monkeypatch):
    """A Hub id goes through the same card reader (DatasetCard.load with the repo id)."""
    from huggingface_hub import DatasetCard

    asked = []
    real_load = DatasetCard.load

    def load(source):
        asked.append(source)
        return real_load(small_crop_build / "README.md")

    monkeypatch.setattr(dataset_source.DatasetCard, "load", load)
    assert recorded_preprocessing("someone/mpii_pose_caption", "person_crop") == Preprocessing("crop", 96, 1.5)
    assert asked == ["someone/mpii_pose_caption"]


def test_parallel_build_equals_serial_build(small_crop_build, tmp_path):
    serial = tmp_path / "serial"
    build(serial, data_dir=SAMPLE_DIR, configs=["person_crop"], num_proc=1, image_size=96, crop_padding=1.5)
    for split in ("train", "validation"):
        a = load_dataset(str(small_crop_build), "person_crop", split=split)
        b = load_dataset(str(serial), "person_crop", split=split)
        assert len(a) == len(b) > 0
        key = ("image_name", "person_index")
        assert sorted(zip(*(a[k] for k in key))) == sorted(zip(*(b[k] for k in key)))
        assert sorted(a["text"]) == sorted(b["text"])
