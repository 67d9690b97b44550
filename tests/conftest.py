"""Fixtures every test module gets: the Hub is never contacted, and one saved tiny model per module."""

import huggingface_hub.constants
import pytest
from pose_model_fixtures import save_tiny_model


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Hub ids resolve from the local cache only: a test never waits on a network."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny model saved once per test module."""
    return save_tiny_model(tmp_path_factory.mktemp("model"))
