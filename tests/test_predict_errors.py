"""User-caused predict failures end with one error line naming the file or flag, exit code 2, no traceback."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from blip_pose.cli import main
from tests._mpii_release import picture


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "im.jpg"
    picture(64, 48).save(path)
    return path


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line.lower()]  # the rest: transformers' tqdm bars
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_device_cuda_without_cuda(model_dir, image, tmp_path, capsys):
    args = ["predict", "--model", str(model_dir), str(image), "--out", str(tmp_path / "o"), "--device", "cuda"]
    assert main(args) == 2
    assert "CUDA is not available" in _one_error(capsys)


@pytest.mark.parametrize("name", ["preprocessing.json", "config.json"])
def test_invalid_json_names_the_file(model_dir, image, tmp_path, capsys, name):
    model = shutil.copytree(model_dir, tmp_path / "m")
    (model / name).write_text('{"mode": "resize",')
    assert main(["predict", "--model", str(model), str(image), "--out", str(tmp_path / "o")]) == 2
    assert str(model / name) in _one_error(capsys)


def test_truncated_safetensors_names_the_file(model_dir, image, tmp_path, capsys):
    model = shutil.copytree(model_dir, tmp_path / "m")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["predict", "--model", str(model), str(image), "--out", str(tmp_path / "o")]) == 2
    assert str(weights) in _one_error(capsys)


def test_a_box_of_1e9_px_is_one_error_naming_the_image(model_dir, image, tmp_path, capsys):
    model = shutil.copytree(model_dir, tmp_path / "m")
    (model / "preprocessing.json").write_text(json.dumps({"mode": "crop", "image_size": 384, "crop_padding": 1.25}))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({image.name: [0, 0, 1e9, 1e9]}))
    args = ["predict", "--model", str(model), str(image), "--out", str(tmp_path / "o"), "--boxes", str(boxes)]
    assert main(args) == 2
    line = _one_error(capsys)
    assert str(image) in line and "reaches more than" in line
