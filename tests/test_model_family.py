"""The model-family seam: a family registered from test code alone (a BLIP-shaped model under another
``model_type``) is built as a preset, loaded, trained one step and generates through the generic code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, BlipConfig, BlipForConditionalGeneration, LogitsProcessorList

import blip_pose.models as models
from blip_pose import presets
from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import encode_loss_generate
from blip_pose.keypoints import KeypointSpec
from blip_pose.loc_tokens import add_loc_tokens, has_loc_tokens
from blip_pose.models import family_for_checkpoint, family_for_config, register_family
from blip_pose.models.blip import BlipFamily
from blip_pose.pose_format import parse_pixels
from blip_pose.sdpa import use_sdpa
from blip_pose.training.arguments import PoseTrainingArguments
from blip_pose.training.modeling import CheckpointError, load_model_and_processor
from blip_pose.training.trainer import PoseCaptionTrainer


class ToyConfig(BlipConfig):
    model_type = "toy-blip"


class ToyCaptioner(BlipForConditionalGeneration):
    config_class = ToyConfig


class ToyFamily(BlipFamily):
    name = "toy"
    model_types = ("toy-blip",)
    model_class = ToyCaptioner
    config_class = ToyConfig


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy family registered (for this test only) and its preset saved as a checkpoint."""
    AutoConfig.register("toy-blip", ToyConfig, exist_ok=True)
    AutoModel.register(ToyConfig, ToyCaptioner, exist_ok=True)
    monkeypatch.setattr(models, "_FAMILIES", dict(models._FAMILIES))
    register_family(ToyFamily())
    monkeypatch.setitem(presets.PRESETS, "toy-tiny", {**presets.PRESETS["tiny"], "family": "toy"})
    return presets.save_preset("toy-tiny", tmp_path / "toy")


def test_the_family_is_read_from_the_checkpoint_and_loads_its_own_classes(toy):
    assert '"model_type": "toy-blip"' in (toy / "config.json").read_text()
    assert family_for_checkpoint(str(toy)).name == "toy"
    assert presets.preset_family("toy-tiny") == "toy" and presets.preset_family("tiny") == "blip"
    model, processor = load_model_and_processor(str(toy), label_smoothing=0.1, caption_column="loc_text")
    assert type(model) is ToyCaptioner and family_for_config(model.config).name == "toy"
    assert model.text_decoder.label_smoothing == 0.1  # the family's rule reached the loss
    assert has_loc_tokens(processor.tokenizer) and model.get_input_embeddings().num_embeddings == len(
        processor.tokenizer
    )
    assert add_loc_tokens(model, processor.tokenizer) == 0
    assert use_sdpa(model) == 2 + 2 * 2  # the family's SDPA path: 2 vision layers, 2 text layers x (self, cross)


def test_an_unknown_model_type_is_a_clear_error(tmp_path):
    folder = presets.save_preset("tiny", tmp_path / "other")
    config = folder / "config.json"
    config.write_text(config.read_text().replace('"model_type": "blip"', '"model_type": "no-such-family"', 1))
    with pytest.raises(CheckpointError, match="model_type 'no-such-family' is no family this project knows"):
        load_model_and_processor(str(folder))


def test_the_toy_family_trains_a_step_and_generates_through_the_generic_code(toy, rows, tmp_path):
    model, processor = load_model_and_processor(str(toy))
    family = family_for_config(model.config)
    collator = family.collator(processor, model.config, "text", "image")
    batch = collator([rows[i] for i in range(len(rows))])
    assert (batch["input_ids"][:, 0] == processor.tokenizer.bos_token_id).all()  # the family's start token
    before = [p.detach().clone() for p in model.parameters()]
    args = PoseTrainingArguments(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        per_device_train_batch_size=len(rows),
        learning_rate=1e-3,
        use_cpu=True,
        report_to="none",
        remove_unused_columns=False,
        save_strategy="no",
        predict_with_generate=True,
    )
    trainer = PoseCaptionTrainer(
        model=model,
        args=args,
        train_dataset=rows.select_columns(["image", "text"]),
        data_collator=collator,
        max_new_tokens=4,
    )
    trainer.train()
    assert any((p.detach() - b).abs().max() > 0 for p, b in zip(model.parameters(), before))

    model.eval()
    width, height = 128, 128
    grammar = CaptionGrammar(processor.tokenizer, "text", width, height)
    out = encode_loss_generate(
        model,
        batch["pixel_values"],
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=batch["labels"],
        max_new_tokens=grammar.max_new_tokens,
        logits_processor=LogitsProcessorList([grammar]),
    )
    with torch.no_grad():
        assert out.loss is not None and torch.allclose(out.loss, model(**batch).loss, atol=1e-5)  # one vision pass
    assert out.sequences is not None and (out.sequences[:, 0] == processor.tokenizer.bos_token_id).all()
    captions = processor.tokenizer.batch_decode(out.sequences, skip_special_tokens=True)
    _, found = parse_pixels(captions, "text", np.full((len(captions), 2), width))
    assert found.all(), captions  # the grammar wrote every joint: parsed whole


FACE = KeypointSpec(name="face3", names=("nose", "left eye", "right eye"), captions=("nose", "left_eye", "right_eye"))


def _accepted(grammar: CaptionGrammar, ids: list[int], vocab: int) -> bool:
    """Whether the grammar allows every token of ``ids`` (start token first) in turn."""
    for t in range(1, len(ids)):
        scores = grammar(torch.tensor([ids[:t]]), torch.zeros(1, vocab))
        if scores[0, ids[t]] == float("-inf"):
            return False
    return True


@pytest.mark.parametrize("column", ["text", "normalized_text"])
def test_a_preset_and_the_grammar_write_another_keypoint_set(column):
    tokenizer = presets.build_processor(128, spec=FACE).tokenizer
    assert {"nose", "left", "eye", "right"} <= set(tokenizer.get_vocab())
    assert "rankl" not in tokenizer.get_vocab()  # the vocabulary is the spec's, not MPII's
    grammar = CaptionGrammar(tokenizer, column, 64, 64, spec=FACE)
    number = "0.500" if column.startswith("normalized") else "32"
    caption = " ".join(f"{name}:{number},{number}" for name in FACE.captions)
    start, end = tokenizer.bos_token_id, tokenizer.sep_token_id
    ids = [start, *tokenizer(caption, add_special_tokens=False)["input_ids"], end]
    assert _accepted(grammar, ids, len(tokenizer))
    swapped = caption.replace("nose", "right_eye", 1)  # joints out of the spec's order are refused
    assert not _accepted(
        grammar, [start, *tokenizer(swapped, add_special_tokens=False)["input_ids"], end], len(tokenizer)
    )


def test_loc_captions_have_two_slots_per_keypoint_of_the_spec():
    model, processor = presets.build_preset("tiny", spec=FACE)
    add_loc_tokens(model, processor.tokenizer)
    assert len(CaptionGrammar(processor.tokenizer, "loc_text", 64, 64, spec=FACE).slots) == 2 * 3
