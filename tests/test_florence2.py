"""Issue 24: the Florence-2 family (DaViT + BART encoder-decoder, a task prompt, its own ``<loc_0>``..``<loc_999>``).

The run through ``training/run.py``, the card, the predictor on the run folder and the attention analysis are
``tests/test_families.py``'s parametrized run test (``tiny-florence2``); here: the family's own traps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from training_fixtures import make_pose_dataset
from transformers import LogitsProcessorList

from blip_pose import presets
from blip_pose.constrained import CaptionGrammar
from blip_pose.demo_app import DemoHandler
from blip_pose.generation import encode_loss_generate
from blip_pose.geometry import Preprocessing
from blip_pose.loc_tokens import add_loc_tokens, has_loc_tokens
from blip_pose.models import FLORENCE2, family_by_name, family_for_checkpoint, family_for_config
from blip_pose.models.florence2 import FLORENCE2_LOC, PROMPT
from blip_pose.pose_format import LOC_BINS, parse_pixels, render_loc
from blip_pose.predictor import PosePredictor
from blip_pose.sdpa import use_sdpa
from blip_pose.training.modeling import set_label_smoothing


@pytest.fixture(scope="module")
def tiny():
    return presets.build_preset("tiny-florence2")


@pytest.fixture(scope="module")
def rows():
    data = make_pose_dataset(3, 1, seed=1)["train"]
    return [data[i] for i in range(3)]


def test_the_family_is_registered_and_a_saved_preset_round_trips(tiny, tmp_path):
    model, processor = tiny
    assert type(model).__name__ == "Florence2ForConditionalGeneration" and model.config.model_type == "florence2"
    assert family_for_config(model.config) is FLORENCE2 is family_by_name("florence2")
    assert presets.preset_family("tiny-florence2") == "florence2"
    presets.save_preset("tiny-florence2", tmp_path)
    family = family_for_checkpoint(str(tmp_path))
    assert family is FLORENCE2
    loaded, reloaded = family.load(str(tmp_path))
    caption = "rankl:12,345 upper_neck:0.5,6<loc_12><loc_999>"
    assert reloaded.tokenizer(caption)["input_ids"] == processor.tokenizer(caption)["input_ids"]
    assert len(reloaded.tokenizer) == len(processor.tokenizer)
    assert reloaded.image_processor.size == processor.image_processor.size
    assert reloaded.num_image_tokens == processor.num_image_tokens == model.config.num_image_tokens == 65
    assert loaded.config.caption_prefix_ids == model.config.caption_prefix_ids
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_the_loc_tokens_are_florences_own_and_every_pixel_of_384_px_round_trips(tiny):
    model, processor = tiny
    tokenizer = processor.tokenizer
    ids = tokenizer("rankl:12,345<loc_0><loc_999>", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["rankl", ":", "12", ",", "345", "<loc_0>", "<loc_999>"]
    assert family_for_config(model.config).loc_vocabulary(tokenizer) == FLORENCE2_LOC
    assert has_loc_tokens(tokenizer, FLORENCE2_LOC) and not has_loc_tokens(tokenizer)  # its own, not the project's
    size = len(tokenizer)
    assert add_loc_tokens(model, tokenizer) == 0 and len(tokenizer) == size
    assert FLORENCE2_LOC.tokens[0] == "<loc_0>" and FLORENCE2_LOC.tokens[-1] == "<loc_999>"
    for pixel in range(LOC_BINS + 1):  # x == 384 is the last pixel's far edge: the last bin
        caption = render_loc(np.full((16, 2), float(pixel)), LOC_BINS, LOC_BINS)
        decoded = tokenizer.decode(tokenizer(FLORENCE2_LOC.encode(caption))["input_ids"], skip_special_tokens=True)
        xy, found = parse_pixels([FLORENCE2_LOC.decode(decoded)], "loc_text", [[LOC_BINS, LOC_BINS]])
        assert found.all() and (xy == min(pixel, LOC_BINS - 1)).all()


def test_the_collator_writes_the_prompt_for_the_encoder_and_the_caption_for_the_decoder(tiny, rows):
    model, processor = tiny
    batch = family_for_config(model.config).collator(processor, model.config, "loc_text", "image")(rows)
    expected = processor(images=[row["image"] for row in rows], text=[PROMPT] * len(rows), return_tensors="pt")
    assert torch.equal(batch["input_ids"], expected["input_ids"])  # what the processor gives the encoder
    assert torch.equal(batch["attention_mask"], expected["attention_mask"])
    assert torch.allclose(batch["pixel_values"], expected["pixel_values"])
    tokenizer = processor.tokenizer
    assert (batch["decoder_input_ids"][:, 0] == tokenizer.bos_token_id).all()
    for row, inputs, labels in zip(rows, batch["decoder_input_ids"], batch["labels"]):
        target = tokenizer(FLORENCE2_LOC.encode(row["loc_text"]))["input_ids"]  # <s> caption </s>, Florence's locs
        assert labels[labels != -100].tolist() == target[1:]  # one token ahead of the decoder's inputs
        assert inputs[: len(target) - 1].tolist() == target[:-1]


@pytest.mark.parametrize("column", ["text", "loc_text"])
def test_one_vision_pass_is_the_models_own_loss_and_generate_under_the_grammar(tiny, rows, column):
    model, processor = tiny
    family = family_for_config(model.config)
    batch = family.collator(processor, model.config, column, "image")(rows)
    model.eval()

    def grammar() -> LogitsProcessorList:  # a fresh one per generate call (it tracks its call)
        return LogitsProcessorList([CaptionGrammar(processor.tokenizer, column, 128, 128, loc=FLORENCE2_LOC)])

    out = encode_loss_generate(
        model,
        batch["pixel_values"],
        input_ids=batch["decoder_input_ids"],
        attention_mask=batch["decoder_attention_mask"],
        labels=batch["labels"],
        max_new_tokens=200,
        logits_processor=grammar(),
    )
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "pixel_values")}
    with torch.no_grad():
        assert out.loss is not None and torch.allclose(out.loss, model(**batch).loss, atol=1e-5)
        reference = model.generate(
            **inputs, decoder_start_token_id=processor.tokenizer.bos_token_id, logits_processor=grammar(),
            max_new_tokens=200,
        )  # fmt: skip
    assert out.sequences is not None and torch.equal(out.sequences, reference)  # the same captions, one vision pass
    assert (out.sequences[:, 0] == batch["decoder_input_ids"][:, 0]).all()  # generation starts where training starts
    captions = [
        FLORENCE2_LOC.decode(c) for c in processor.tokenizer.batch_decode(out.sequences, skip_special_tokens=True)
    ]
    _, found = parse_pixels(captions, column, [[128, 128]] * len(captions))
    assert found.all(), captions  # parse rate 1.0 from an untrained model
    if column == "loc_text":
        assert all(caption.count("<loc") == 32 and "<loc_" not in caption for caption in captions)

    set_label_smoothing(model, 0.1)  # the family's loss reads it
    with torch.no_grad():
        assert not torch.allclose(model(**batch).loss, out.loss)
    set_label_smoothing(model, 0.0)
    with torch.no_grad():
        assert torch.allclose(model(**batch).loss, out.loss, atol=1e-5)
        assert use_sdpa(model) > 0 and torch.allclose(model(**batch).loss, out.loss, atol=1e-4)
    model.set_attn_implementation("eager")


def test_the_predictor_and_demo_write_parsable_captions_and_the_cross_attention_is_the_image_grid(tiny, tmp_path):
    model, processor = tiny
    model.eval()
    predictor = PosePredictor(model, processor, Preprocessing("resize", 128), caption_column="loc_text", device="cpu")
    assert predictor.loc == FLORENCE2_LOC
    frames = [Image.new("RGB", (128, 128), (40 * i, 90, 90)) for i in range(2)]
    captions, xy, found = predictor.frame_joints(frames)
    assert found.all() and ((xy >= 0) & (xy <= 128)).all(), captions
    frames[1].resize((200, 150)).save(tmp_path / "me.png")
    _, joints, caption, _, message = DemoHandler(predictor, tmp_path)({"path": str(tmp_path / "me.png")})
    assert len(joints) == 16 and caption.count("<loc") == 32 and message.startswith("16/16 joints found"), message

    family = family_for_config(model.config)
    layout = family.decoder_layout(model.config)
    assert (layout.layers, layout.heads, layout.patch_grid) == (2, 2, 8)
    seen: dict[int, torch.Tensor] = {}
    hooks = family.cross_attention(model, lambda k, probs: seen.setdefault(k, probs))
    try:
        with torch.no_grad():
            batch = family.collator(processor, model.config, "text", "image")(
                [{"image": frame, "text": "rankl:1,2"} for frame in frames]
            )
            model(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    assert sorted(seen) == [0, 1]
    probs = seen[1]  # (B, heads, decoder tokens, global token + 8 x 8 patches): the prompt's columns left out
    assert probs.shape[:2] == (2, 2) and probs.shape[-1] == 1 + 8 * 8
    assert (probs.sum(-1) < 1 + 1e-5).all() and (probs >= 0).all()
