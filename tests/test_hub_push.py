"""Hub pushes without network: exactly which files go up, to which repo type, and the token never shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from blip_pose import hub, hub_auth
from blip_pose.cli import main
from blip_pose.geometry import Preprocessing

SECRET = "hf_test_secret_token_do_not_print"
MODEL_FILES = [
    "README.md",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "preprocessing.json",
    "processor_config.json",
    "run_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
]
# Everything else a training run leaves in its output folder.
RUN_LEFTOVERS = [
    "all_results.json",
    "eval_results.json",
    "train_results.json",
    "trainer_state.json",
    "training_args.bin",
    "training_args.json",
    "pytorch_model.bin",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "checkpoint-10/model.safetensors",
    "checkpoint-10/optimizer.pt",
    "checkpoint-10/config.json",
    "runs/Jan01/events.out.tfevents.1.host",
    "predictions/final.jsonl",
    "preset-tiny/model.safetensors",
    "overlays/000.png",
    "sample-dataset/README.md",
]
PLOTS = ["loss.png", "plots/training_loss.png"]


class RecordingApi:
    """Stands in for HfApi: records calls, uploads nothing."""

    calls: list = []

    def __init__(self, token=None):
        RecordingApi.calls.append(("init", token))

    def create_repo(self, repo_id, **kwargs):
        RecordingApi.calls.append(("create_repo", repo_id, kwargs))

    def create_commit(self, repo_id, operations, **kwargs):
        RecordingApi.calls.append(("create_commit", repo_id, [op.path_in_repo for op in operations], kwargs))
        assert all(Path(op.path_or_fileobj).is_file() for op in operations)
        return type("Commit", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/0"})()


@pytest.fixture
def api(monkeypatch):
    RecordingApi.calls = []
    monkeypatch.setattr(hub_auth, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    return RecordingApi


def make_run(tmp_path: Path) -> Path:
    folder = tmp_path / "run1"
    for name in [*MODEL_FILES, *RUN_LEFTOVERS, *PLOTS]:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}" if name.endswith(".json") else "x")
    Preprocessing().save(folder)
    (folder / "all_results.json").write_text(json.dumps({"eval_accuracy@25": 0.5}))
    return folder


def test_upload_list_is_exactly_the_model_files(tmp_path):
    folder = make_run(tmp_path)
    assert hub.model_upload_files(folder) == MODEL_FILES
    assert hub.model_upload_files(folder, include_plots=True) == sorted(MODEL_FILES + PLOTS)
    (folder / "model-00001-of-00002.safetensors").write_text("x")  # sharded weights go too
    assert "model-00001-of-00002.safetensors" in hub.model_upload_files(folder)


def test_push_model_uploads_the_list_with_a_rerendered_card(tmp_path, api, capsys):
    folder = make_run(tmp_path)
    url = hub.push_model(folder, "someone/blip-mpii-pose", private=True)
    assert url == "https://huggingface.co/someone/blip-mpii-pose/commit/0"
    init, create, commit = api.calls
    assert init == ("init", SECRET)
    assert create == (
        "create_repo",
        "someone/blip-mpii-pose",
        {"repo_type": "model", "private": True, "exist_ok": True, "space_sdk": None},
    )
    assert commit[:3] == ("create_commit", "someone/blip-mpii-pose", MODEL_FILES)
    card = ModelCard.load(folder / "README.md")
    assert card.data.model_name == "blip-mpii-pose" and 'from_pretrained("someone/blip-mpii-pose")' in card.text
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert not any(SECRET in p.read_text(errors="ignore") for p in folder.rglob("*") if p.is_file())


def test_push_refuses_a_folder_without_safetensors_or_token(tmp_path, api, monkeypatch):
    folder = make_run(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model.safetensors \(found pytorch_model.bin: only safetensors"):
        hub.push_model(folder, "someone/x")
    (folder / "model.safetensors").write_text("x")
    (folder / "preprocessing.json").unlink()
    with pytest.raises(FileNotFoundError, match="missing preprocessing.json"):
        hub.push_model(folder, "someone/x")
    Preprocessing().save(folder)
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(hub_auth, "get_token", lambda: None)
    with pytest.raises(PermissionError, match="HF_TOKEN"):
        hub.push_model(folder, "someone/x")
    assert [c[0] for c in api.calls] == []  # nothing created before the checks passed


def make_metric(tmp_path: Path) -> Path:
    folder = tmp_path / "pose_threshold_accuracy"
    for name in [
        "pose_threshold_accuracy.py",
        "README.md",
        "app.py",
        "requirements.txt",
        "tests/test_cases.py",
        "__pycache__/pose_threshold_accuracy.cpython-311.pyc",
        ".DS_Store",
    ]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    return folder


def test_metric_space_push(tmp_path, api):
    folder = make_metric(tmp_path)
    expected = ["README.md", "app.py", "pose_threshold_accuracy.py", "requirements.txt", "tests/test_cases.py"]
    assert hub.metric_upload_files(folder) == expected
    hub.push_metric("someone/pose_threshold_accuracy", folder)
    _, create, commit = api.calls
    assert create[2]["repo_type"] == "space" and create[2]["space_sdk"] == "gradio"
    assert commit[3]["repo_type"] == "space"
    # The metric's files and a copy of the package it imports, so that the Space installs from PyPI alone.
    assert set(expected) < set(commit[2]) and {"blip_pose/pose_format.py", "blip_pose/pose_metrics.py"} < set(commit[2])
    (folder / "app.py").unlink()
    with pytest.raises(FileNotFoundError, match="missing app.py"):
        hub.push_metric("someone/x", folder)


def test_default_metric_folder_ships_in_the_package_and_the_checkout_links_it():
    import blip_pose

    assert hub.DEFAULT_METRIC_DIR == Path(blip_pose.__file__).parent / "metric" / "pose_threshold_accuracy"
    checkout = Path(__file__).resolve().parents[1] / "metrics" / "pose_threshold_accuracy"
    assert checkout.resolve() == hub.DEFAULT_METRIC_DIR


def test_cli_push_commands(tmp_path, api, monkeypatch, capsys):
    folder = make_run(tmp_path)
    assert main(["push", str(folder), "--repo-id", "someone/m", "--dry-run"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert (
        shown[0].startswith(f"would upload {len(MODEL_FILES)} file(s)")
        and "https://huggingface.co/someone/m" in shown[0]
    )
    assert [line.split()[-1] for line in shown[1:]] == MODEL_FILES and all(" B " in line for line in shown[1:])
    assert api.calls == []  # a dry run makes no Hub call
    assert main(["push", str(folder), "--repo-id", "someone/m", "--include-plots", "--keep-card"]) == 0
    assert api.calls[-1][2] == sorted(MODEL_FILES + PLOTS)
    assert "pushed" in capsys.readouterr().out

    with pytest.raises(SystemExit):  # one dataset push command: python -m mpii_pose_dataset push
        main(["push-dataset", "built", "--repo-id", "someone/d"])

    metric = make_metric(tmp_path)
    assert main(["push-metric", str(metric), "--repo-id", "someone/s", "--dry-run"]) == 0
    shown = capsys.readouterr().out
    assert "pose_threshold_accuracy.py" in shown.split() and "https://huggingface.co/spaces/someone/s" in shown
    assert main(["push", str(tmp_path / "nowhere"), "--repo-id", "someone/m"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_python_m_entry_point(tmp_path):
    folder = make_run(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "blip_pose", "push", str(folder), "--repo-id", "a/b", "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [line.split()[-1] for line in done.stdout.splitlines()[1:]] == MODEL_FILES
