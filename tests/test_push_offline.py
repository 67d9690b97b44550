"""A push that cannot reach the Hub ends in one line naming what was pushed (exit 2), not an HTTP traceback."""

from __future__ import annotations

import functools

import pytest
from huggingface_hub import HfApi
from test_hub_push import make_run

from blip_pose import hub_auth
from blip_pose.cli import main as blip_main
from mpii_pose_dataset.cli import main as dataset_main
from mpii_pose_dataset.export import build
from mpii_pose_dataset.sample import SAMPLE_DIR

#: A loopback port nothing listens on: the connection is refused at once.
CLOSED = "http://127.0.0.1:9"


@pytest.fixture(params=["refused", "offline-mode"])
def unreachable(request, monkeypatch):
    """The Hub client either gets its connection refused or is in HF_HUB_OFFLINE mode (the autouse default)."""
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    if request.param == "refused":
        monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub_auth, "HfApi", functools.partial(HfApi, endpoint=CLOSED))
    return request.param


def _one_error_line(capsys, *names: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: cannot reach the Hub to push"), err
    assert "Traceback" not in err and "hf_not_a_real_token" not in err
    for name in names:
        assert name in err
    return err


def test_model_push_without_network(tmp_path, unreachable, capsys):
    folder = make_run(tmp_path)
    assert blip_main(["push", str(folder), "--repo-id", "someone/m"]) == 2
    _one_error_line(capsys, "someone/m", str(folder))


def test_dataset_push_without_network(tmp_path, unreachable, capsys):
    folder = tmp_path / "built"
    build(folder, data_dir=SAMPLE_DIR, configs=["paper"])
    capsys.readouterr()  # the build's progress bars
    assert dataset_main(["push", str(folder), "--repo-id", "someone/d"]) == 2
    _one_error_line(capsys, "someone/d")
