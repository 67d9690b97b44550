"""The run seam: one module names every path of a run folder, the training library imports no publishing module,
and the package's modules import each other in no circle (the card and the shipped models once did)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from blip_pose import run_folder
from blip_pose.keypoints import KEYPOINTS_FILE
from blip_pose.run_folder import RunFolder, checkpoint_step

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "blip_pose"
#: Modules that publish (the card, the Hub, the Spaces, the demo page, shipping a model): training asks none of them.
PUBLISHING = {"blip_pose.card", "blip_pose.hub", "blip_pose.hub_auth", "blip_pose.space", "blip_pose.demo_app"}
PUBLISHING |= {"blip_pose.pretrained.ship"}
#: File names only run_folder.py spells (keypoints.json: the keypoint seam's own file, spelled in its spec module).
FILE_NAMES = {
    run_folder.RUN_CONFIG_FILE,
    run_folder.TRAINING_ARGS_FILE,
    run_folder.RESULTS_FILE,
    run_folder.CHECKPOINT_CHOICE_FILE,
    run_folder.PREPROCESSING_FILE,
    run_folder.TRAINER_STATE_FILE,
    run_folder.SAMPLE_DATASET_FOLDER,
    KEYPOINTS_FILE,
}
PREFIXES = (run_folder.CHECKPOINT_PREFIX, run_folder.PRESET_PREFIX, run_folder.SYNTHETIC_DATASET_PREFIX)
FOLDERS = {
    run_folder.PLOTS_DIR,
    run_folder.OVERLAYS_DIR,
    run_folder.PREDICTIONS_DIR,
    run_folder.ANALYSIS_DIR,
    run_folder.TENSORBOARD_DIR,
}
OWNERS = {LIBRARY / "run_folder.py": FILE_NAMES, LIBRARY / "keypoints" / "spec.py": {KEYPOINTS_FILE}}
#: The same spelling naming something else: synthetic videos are called ``synthetic-<seed>-<n>`` in the release.
NOT_PATHS = {ROOT / "mpii_pose_dataset" / "synthetic.py": {run_folder.SYNTHETIC_DATASET_PREFIX}}


def _sources() -> list[Path]:
    """The library, the entry scripts and the dataset package: everything but tests."""
    roots = (LIBRARY, ROOT / "training", ROOT / "mpii_pose_dataset", ROOT / "benchmarks")
    return sorted(p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (``from a import b``: ``a.b`` too, as ``b``
    may be a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def _spelled(path: Path) -> list[str]:
    """Run-folder names ``path`` spells itself: a file name as a string, a ``checkpoint-``/``preset-``/
    ``synthetic-`` pattern (``"checkpoint-*"``, ``f"preset-{name}"``), a folder joined by ``/``. Docstrings are
    prose and not counted (nor, twice, an f-string's parts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    skipped |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    allowed = OWNERS.get(path, set())
    prefixes = tuple(p for p in PREFIXES if p not in NOT_PATHS.get(path, set()))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            text = node.value
            if text in FILE_NAMES - allowed or any(text in (p, f"{p}*") or text.startswith(f"{p}(") for p in prefixes):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text!r}")
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and prefixes and str(first.value).startswith(prefixes):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: f{str(first.value)!r}...")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            right = node.right
            if isinstance(right, ast.Constant) and right.value in FOLDERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: / {right.value!r}")
    return sorted(found, key=lambda line: int(line.split(":")[1]))


def test_only_run_folder_spells_the_run_folder_names():
    spelled = [line for path in _sources() if path != LIBRARY / "run_folder.py" for line in _spelled(path)]
    assert not spelled, "ask blip_pose.run_folder instead:\n" + "\n".join(spelled)


def test_the_check_finds_a_spelled_name(tmp_path, monkeypatch):
    """The check above can fail: each way of spelling a name is found."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    source = tmp_path / "m.py"
    source.write_text(
        '"""Docstrings may say run_config.json."""\n'
        'a = "run_config.json"\nb = f"checkpoint-{1}"\nc = "preset-*"\nd = out / "plots"\ne = "synthetic-data"\n'
    )
    assert [line.split(": ", 1)[1] for line in _spelled(source)] == [
        "'run_config.json'",
        "f'checkpoint-'...",
        "'preset-*'",
        "/ 'plots'",
    ]


def test_training_library_imports_no_publishing_module():
    training = sorted((LIBRARY / "training").glob("*.py"))
    assert training
    bad = {str(p.relative_to(ROOT)): sorted(_imports(p) & PUBLISHING) for p in training}
    assert not {path: names for path, names in bad.items() if names}


def test_the_package_imports_in_no_circle():
    """Every import of ``blip_pose`` (lazy ones too) points one way: no module reaches itself again."""
    paths = {_module(p): p for p in LIBRARY.rglob("*.py") if "__pycache__" not in p.parts}
    edges = {name: {m for m in _imports(path) if m in paths and m != name} for name, path in paths.items()}
    # A module's package __init__ runs first when it is imported: that is no arrow of the module's own.
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            pytest.fail("import circle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for target in sorted(edges[name]):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(paths):
        visit(name, [])


def test_run_folder_names_the_paths(tmp_path):
    run = RunFolder(str(tmp_path))
    assert run == RunFolder(tmp_path) and run.path == tmp_path
    assert run.run_config == tmp_path / "run_config.json" and run.keypoints == tmp_path / "keypoints.json"
    assert run.analysis("stages") == tmp_path / "analysis" / "stages"
    assert run.preset("tiny").name == "preset-tiny" and run.synthetic_dataset("video_split", 60, 3).name == (
        "synthetic-video_split-n60-seed3"
    )
    # transformers' names, spelled here so the light modules need no transformers import
    assert run_folder.CHECKPOINT_PREFIX == f"{PREFIX_CHECKPOINT_DIR}-"
    assert run_folder.TRAINER_STATE_FILE == TRAINER_STATE_NAME


def test_checkpoints_by_step_and_what_makes_a_run(tmp_path):
    run = RunFolder(tmp_path)
    assert not run.is_run() and run.checkpoints() == []
    for name in ("checkpoint-100", "checkpoint-20", "checkpoint-3", "checkpoint-best"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-7").write_text("a file, not a checkpoint")
    assert [p.name for p in run.checkpoints()] == ["checkpoint-3", "checkpoint-20", "checkpoint-100"]
    assert checkpoint_step(run.checkpoint(20)) == 20 and checkpoint_step(tmp_path / "checkpoint-best") is None
    assert not run.is_run()  # checkpoint folders without the Trainer's arguments: not training's
    run.checkpoint(20).joinpath("training_args.json").write_text("{}")
    assert run.is_run()
