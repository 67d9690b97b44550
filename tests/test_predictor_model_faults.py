"""A model folder that cannot predict says so in one line (exit 2), never a traceback or joints at (0, 0):
NaN weights, NaN scores at run time, pickled-only weights, a loc_text model without its run record, and a mistyped
local path (refused at once instead of minutes of Hub retries)."""

import json
import shutil

import pytest
import torch
from pose_model_fixtures import SAMPLE_IMAGES, save_tiny_model
from safetensors.torch import load_file, save_file

from blip_pose.checkpoint import local_or_hub, looks_local
from blip_pose.cli import main
from blip_pose.generation import NaNScoresError
from blip_pose.predictor import PosePredictor

IMAGE = str(SAMPLE_IMAGES[0])


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in "\n".join(err), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_nan_weights_are_refused_at_load(model_dir, tmp_path, capsys):
    folder = shutil.copytree(model_dir, tmp_path / "nan-model")
    weights = load_file(folder / "model.safetensors")
    name = next(k for k in weights if "text_decoder" in k and weights[k].is_floating_point())
    weights[name] = torch.full_like(weights[name], float("nan"))  # what flipped exponent bytes give
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    assert main(["predict", "--model", str(folder), IMAGE, "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, str(folder), "NaN")
    assert not (tmp_path / "o" / "predictions.jsonl").exists()  # nothing "found" at (0, 0)


def test_nan_scores_at_run_time_stop_the_prediction(model_dir):
    predictor = PosePredictor.from_pretrained(model_dir, device="cpu")
    with torch.no_grad():
        predictor.model.text_decoder.cls.predictions.bias.fill_(float("nan"))  # e.g. a float16 overflow
    with pytest.raises(NaNScoresError, match=str(model_dir)):
        predictor(IMAGE)


def test_a_folder_with_only_pickled_weights_is_one_line(model_dir, tmp_path, capsys):
    folder = shutil.copytree(model_dir, tmp_path / "pickled")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    assert main(["predict", "--model", str(folder), IMAGE, "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "no safetensors weights", "pytorch_model.bin", "refused")


@pytest.fixture(scope="module")
def loc_model(tmp_path_factory):
    from transformers import BlipForConditionalGeneration, BlipProcessor

    from blip_pose.loc_tokens import add_loc_tokens

    folder = save_tiny_model(tmp_path_factory.mktemp("loc"))
    model = BlipForConditionalGeneration.from_pretrained(folder)
    processor = BlipProcessor.from_pretrained(folder)
    add_loc_tokens(model, processor.tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder  # no run_config.json


def test_a_loc_model_without_run_config_decodes_loc_captions(loc_model):
    predictor = PosePredictor.from_pretrained(loc_model, device="cpu")
    assert predictor.caption_column == "loc_text"  # was "text": every joint missing, silently
    assert predictor(IMAGE).found.all()  # the loc grammar writes 32 tokens


def test_a_caption_column_that_does_not_fit_the_tokenizer_is_refused(loc_model, model_dir, tmp_path):
    with pytest.raises(ValueError, match="<locN> tokens"):
        PosePredictor.from_pretrained(loc_model, device="cpu", caption_column="text")
    folder = shutil.copytree(model_dir, tmp_path / "m")
    (folder / "run_config.json").write_text(json.dumps({"data": {"caption_column": "loc_text"}}))
    with pytest.raises(ValueError, match=f"{folder}.*lacks the <locN> tokens"):
        PosePredictor.from_pretrained(folder, device="cpu")


@pytest.mark.parametrize("name", ["outputs/nope", "./nope", "~/no-such-model-here", "a/b/c", "nope/"])
def test_a_mistyped_local_path_fails_at_once(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # a Hub lookup would now retry
    assert looks_local(name)
    assert main(["predict", "--model", name, IMAGE, "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, name, "no such folder")
    assert main(["demo", name]) == 2
    _one_error_line(capsys, name, "no such folder")


def test_hub_ids_are_left_to_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert local_or_hub("user/blip-mpii-pose") == "user/blip-mpii-pose"
    assert not looks_local("Salesforce/blip-image-captioning-base")


def test_training_refuses_a_mistyped_path_and_pickled_weights_at_once(model_dir, tmp_path, monkeypatch):
    from blip_pose.training.modeling import CheckpointError, resolve_checkpoint

    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with pytest.raises(CheckpointError, match="^--model_name_or_path outputs/nope: no such folder, and not a Hub id"):
        resolve_checkpoint("outputs/nope", tmp_path / "run")
    folder = shutil.copytree(model_dir, tmp_path / "pickled")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no safetensors weights .*pytorch_model.bin.* refused"):
        resolve_checkpoint(str(folder), tmp_path / "run")
