"""Fixtures every test module gets: the Hub is never contacted, and one saved tiny model per module."""

import huggingface_hub.constants
import pytest
from pose_model_fixtures import save_tiny_model


def pytest_collection_modifyitems(config, items):
    """README commands first: under ``make test``'s two workers they are one ~20 min chain on one worker, so
    started first they run beside every other file instead of after most of them."""
    items.sort(key=lambda item: item.get_closest_marker("readme") is None)  # stable: order kept within each group


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Hub ids resolve from the local cache only: a test never waits on a network."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny model saved once per test module."""
    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny preset saved as a bare checkpoint (no run records) once per module."""
    from blip_pose.presets import save_preset

    return save_preset("tiny", tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def rows():
    """Four training rows of the tests' small pose-caption dataset."""
    from training_fixtures import make_pose_dataset

    return make_pose_dataset(n_train=4, n_eval=2, seed=3)["train"]
