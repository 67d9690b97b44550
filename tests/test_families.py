"""Issue 24: the other captioner families (GIT, VisionEncoderDecoder, PaliGemma) through the same pipeline as BLIP.

Each tiny preset trains through ``training/run.py``, evaluates with grammar-constrained decoding (parse rate 1.0
from an untrained model), writes its card, and the predictor loads the run folder and predicts; the one vision pass
gives the model's own loss and the captions ``model.generate`` writes; added ``<locN>`` tokens grow the family's
rows; the attention analysis runs where there is cross-attention and refuses in one line where there is none.
PaliGemma's and Florence-2's own traps (prompts, their own loc tokens) are ``tests/test_paligemma.py``'s and
``tests/test_florence2.py``'s; their runs are here.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image
from training_fixtures import make_pose_dataset, run, sample_dataset
from transformers import LogitsProcessorList

from blip_pose import cli, presets
from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import encode_loss_generate
from blip_pose.loc_tokens import add_loc_tokens, has_loc_tokens
from blip_pose.models import family_for_checkpoint, family_for_config
from blip_pose.predictor import PosePredictor
from blip_pose.sdpa import use_sdpa
from blip_pose.training.modeling import set_label_smoothing

#: preset -> (model class, model_type, has cross-attention, its loss smooths labels)
FAMILIES = {
    "tiny-git": ("GitForCausalLM", "git", False, True),
    "tiny-ved": ("VisionEncoderDecoderModel", "vision-encoder-decoder", True, False),
}
#: The presets trained through ``training/run.py``: the families above, PaliGemma and Florence-2.
RUNS = {
    **FAMILIES,
    "tiny-paligemma": ("PaliGemmaForConditionalGeneration", "paligemma", False, True),
    "tiny-florence2": ("Florence2ForConditionalGeneration", "florence2", True, True),
}


@pytest.fixture(scope="module")
def batch_rows():
    return make_pose_dataset(3, 1, seed=1)["train"]


@pytest.fixture(scope="module")
def eight_images(tmp_path_factory):
    return sample_dataset(tmp_path_factory.mktemp("sample") / "eight", n_train=8, eval_is_train=True)


@pytest.mark.parametrize("preset", FAMILIES)
def test_one_vision_pass_is_the_models_own_loss_and_generate(preset, batch_rows):
    model, processor = presets.build_preset(preset)
    cls, model_type, _, smooths = FAMILIES[preset]
    assert type(model).__name__ == cls and model.config.model_type == model_type
    family = family_for_config(model.config)
    batch = family.collator(processor, model.config, "text", "image")([batch_rows[i] for i in range(3)])
    model.eval()
    grammar = CaptionGrammar(processor.tokenizer, "text", 128, 128)
    kwargs = {"max_new_tokens": grammar.max_new_tokens, "logits_processor": LogitsProcessorList([grammar])}
    prefix = "" if "input_ids" in batch else "decoder_"  # a seq2seq family's batch names the decoder's inputs
    out = encode_loss_generate(
        model,
        batch["pixel_values"],
        input_ids=batch[f"{prefix}input_ids"],
        attention_mask=batch[f"{prefix}attention_mask"],
        labels=batch["labels"],
        **kwargs,
    )
    with torch.no_grad():
        assert out.loss is not None and torch.allclose(out.loss, model(**batch).loss, atol=1e-5)
        reference = family.generate_from_embeds(model, family.encode_images(model, batch["pixel_values"]), **kwargs)
    assert out.sequences is not None and torch.equal(out.sequences, reference)
    assert (out.sequences[:, 0] == batch[f"{prefix}input_ids"][:, 0]).all()  # generation starts where training starts
    captions = processor.tokenizer.batch_decode(out.sequences, skip_special_tokens=True)
    assert all(caption.startswith("rankl :") and "rank" in caption for caption in captions), captions

    if smooths:
        set_label_smoothing(model, 0.1)  # the family's loss reads it
        with torch.no_grad():
            assert not torch.allclose(model(**batch).loss, out.loss)
    else:
        with pytest.raises(ValueError, match="no label smoothing"):
            set_label_smoothing(model, 0.1)
    set_label_smoothing(model, 0.0)
    with torch.no_grad():
        assert torch.allclose(model(**batch).loss, out.loss, atol=1e-5)
        switched = use_sdpa(model)
        assert switched > 0 and torch.allclose(model(**batch).loss, out.loss, atol=1e-4)  # same math, fused kernel


@pytest.mark.parametrize("preset", FAMILIES)
def test_loc_tokens_grow_the_familys_rows(preset):
    model, processor = presets.build_preset(preset)
    size = len(processor.tokenizer)
    assert add_loc_tokens(model, processor.tokenizer) > 0 and has_loc_tokens(processor.tokenizer)
    assert model.get_input_embeddings().num_embeddings == len(processor.tokenizer) > size
    assert model.get_output_embeddings().weight.shape[0] == len(processor.tokenizer)
    loc, digits = processor.tokenizer.convert_tokens_to_ids("<loc123>"), processor.tokenizer("123")["input_ids"][1:-1]
    emb = model.get_input_embeddings().weight
    assert torch.allclose(emb[loc], emb[digits].mean(0))


@pytest.mark.parametrize("preset", RUNS)
def test_a_tiny_preset_trains_evaluates_and_predicts_through_run_py(preset, eight_images, tmp_path, capsys):
    out = tmp_path / preset
    metrics = run.main(
        [
            "training/configs/tiny_test.yaml",
            "--model_name_or_path", preset,
            "--dataset_name", str(eight_images),
            "--output_dir", str(out),
            "--max_steps", "2",
            "--num_overlays", "1",
        ]
    )  # fmt: skip
    assert metrics["eval_parse_rate"] == 1.0  # the grammar with the family's tokenizer, from an untrained model
    assert math.isfinite(metrics["eval_mae"]) and math.isfinite(metrics["eval_loss"])
    cls, model_type, cross, _ = RUNS[preset]
    assert json.loads((out / "config.json").read_text())["model_type"] == model_type
    assert family_for_checkpoint(str(out)).name == presets.preset_family(preset)
    assert "parse" in (out / "README.md").read_text()  # the card

    predictor = PosePredictor.from_pretrained(str(out), device="cpu")
    assert type(predictor.model).__name__ == cls
    (pose,) = predictor.predict_images([Image.new("RGB", (300, 200), (120, 90, 90))])
    assert pose.found.all() and (pose.xy >= 0).all() and (pose.xy[:, 0] <= 300).all() and (pose.xy[:, 1] <= 200).all()

    code = cli.main(["analyze", "attention", str(out), "--images", "2", "--out", str(tmp_path / "att")])
    if cross:
        assert code == 0 and (tmp_path / "att" / "attention.json").is_file()
    else:
        assert code == 2
        assert "no cross-attention" in capsys.readouterr().err
