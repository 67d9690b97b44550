"""Issue 24: the PaliGemma family (prefix-LM, its own ``<loc0000>``..``<loc1023>``) and the loc-vocabulary seam.

The run through ``training/run.py``, the card, the predictor on the run folder and the attention analysis's refusal
are ``tests/test_families.py``'s parametrized run test (``tiny-paligemma``); here: the family's own traps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset
from PIL import Image
from training_fixtures import make_pose_dataset
from transformers import LogitsProcessorList

from blip_pose import presets
from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import encode_loss_generate
from blip_pose.geometry import Preprocessing
from blip_pose.loc_tokens import add_loc_tokens, has_loc_tokens
from blip_pose.models import PALIGEMMA, family_by_name, family_for_checkpoint, family_for_config
from blip_pose.models.paligemma import PALIGEMMA_LOC, PROMPT
from blip_pose.pose_format import DEFAULT_LOC_VOCABULARY, LOC_BINS, LocVocabulary, parse_pixels, render_loc
from blip_pose.predictor import PosePredictor
from blip_pose.sdpa import use_sdpa
from blip_pose.training.data import DataError, check_captions
from blip_pose.training.evaluation import PoseMetrics
from blip_pose.training.modeling import set_label_smoothing


@pytest.fixture(scope="module")
def tiny():
    return presets.build_preset("tiny-paligemma")


@pytest.fixture(scope="module")
def rows():
    data = make_pose_dataset(3, 1, seed=1)["train"]
    return [data[i] for i in range(3)]


def test_the_family_is_registered_and_a_saved_preset_round_trips(tiny, tmp_path):
    model, processor = tiny
    assert type(model).__name__ == "PaliGemmaForConditionalGeneration" and model.config.model_type == "paligemma"
    assert family_for_config(model.config) is PALIGEMMA is family_by_name("paligemma")
    assert presets.preset_family("tiny-paligemma") == "paligemma"
    presets.save_preset("tiny-paligemma", tmp_path)
    family = family_for_checkpoint(str(tmp_path))
    assert family is PALIGEMMA
    loaded, reloaded = family.load(str(tmp_path))
    caption = "rankl:12,345 upper_neck:0.5,6<loc0012><loc1023>"
    assert reloaded.tokenizer(caption)["input_ids"] == processor.tokenizer(caption)["input_ids"]
    assert len(reloaded.tokenizer) == len(processor.tokenizer)
    assert reloaded.image_processor.size == processor.image_processor.size
    assert reloaded.image_seq_length == processor.image_seq_length == model.config.text_config.num_image_tokens
    assert loaded.config.caption_prefix_ids == model.config.caption_prefix_ids
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_the_caption_tokens_are_one_each_and_loc_text_adds_nothing(tiny):
    model, processor = tiny
    tokenizer = processor.tokenizer
    ids = tokenizer("rankl:123,45 upper_neck:6,7", add_special_tokens=False)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens == ["rankl", ":", "123", ",", "45", "▁", "upper", "_", "neck", ":", "6", ",", "7"]
    assert tokenizer.decode(ids) == "rankl:123,45 upper_neck:6,7"
    assert has_loc_tokens(tokenizer, PALIGEMMA_LOC) and not has_loc_tokens(tokenizer)  # its own, not the project's
    size = len(tokenizer)
    assert family_for_config(model.config).loc_vocabulary(tokenizer) == PALIGEMMA_LOC
    assert add_loc_tokens(model, tokenizer) == 0 and len(tokenizer) == size


def test_the_collator_builds_what_the_processor_builds_with_labels_on_the_caption_only(tiny, rows):
    model, processor = tiny
    family = family_for_config(model.config)
    batch = family.collator(processor, model.config, "loc_text", "image")(rows)
    prefix = model.config.text_config.num_image_tokens + len(model.config.caption_prefix_ids)
    assert (batch["labels"][:, :prefix] == -100).all()
    assert torch.equal(batch["token_type_ids"], (batch["labels"] != -100).long())
    tokenizer = processor.tokenizer
    for row, ids, labels in zip(rows, batch["input_ids"], batch["labels"]):
        assert tokenizer.decode(ids[prefix - len(model.config.caption_prefix_ids) : prefix]) == f"<bos>{PROMPT}\n"
        caption = tokenizer.decode(labels[labels != -100])
        assert caption == PALIGEMMA_LOC.encode(row["loc_text"]) + "<eos>"  # the model's loc tokens
    expected = processor(
        images=[row["image"] for row in rows],
        text=[PROMPT] * len(rows),
        suffix=[PALIGEMMA_LOC.encode(row["loc_text"]) for row in rows],
        return_tensors="pt",
        padding="longest",
    )
    for i in range(len(rows)):  # the processor pads on the left, the collator on the right
        for key in ("input_ids", "labels", "token_type_ids"):
            ours, theirs = batch[key][i], expected[key][i]
            assert torch.equal(ours[batch["attention_mask"][i] == 1], theirs[expected["attention_mask"][i] == 1])
    assert torch.allclose(batch["pixel_values"], expected["pixel_values"])


def test_one_vision_pass_is_the_models_own_loss_and_generate_without_the_prefix(tiny, rows):
    model, processor = tiny
    family = family_for_config(model.config)
    batch = family.collator(processor, model.config, "loc_text", "image")(rows)
    model.eval()

    def grammar() -> LogitsProcessorList:  # a fresh one per generate call (it tracks its call)
        return LogitsProcessorList([CaptionGrammar(processor.tokenizer, "loc_text", 128, 128, loc=PALIGEMMA_LOC)])

    out = encode_loss_generate(
        model,
        batch["pixel_values"],
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=batch["labels"],
        max_new_tokens=40,
        logits_processor=grammar(),
    )
    inputs = processor(images=[row["image"] for row in rows], text=[PROMPT] * len(rows), return_tensors="pt")
    with torch.no_grad():
        assert out.loss is not None and torch.allclose(out.loss, model(**batch).loss, atol=1e-5)
        reference = model.generate(**inputs, logits_processor=grammar(), max_new_tokens=40)
    assert out.sequences is not None
    assert (out.sequences[:, 0] == processor.tokenizer.bos_token_id).all()  # the prefix is cut
    assert torch.equal(out.sequences[:, 1:], reference[:, inputs["input_ids"].shape[1] :])
    captions = processor.tokenizer.batch_decode(out.sequences, skip_special_tokens=True)
    assert all(caption.startswith("<loc") and caption.count("<loc") == 32 for caption in captions), captions
    assert not any(PROMPT in caption for caption in captions)

    set_label_smoothing(model, 0.1)  # the family's loss reads it
    with torch.no_grad():
        assert not torch.allclose(model(**batch).loss, out.loss)
    set_label_smoothing(model, 0.0)
    with torch.no_grad():
        assert torch.allclose(model(**batch).loss, out.loss, atol=1e-5)
        assert use_sdpa(model) > 0 and torch.allclose(model(**batch).loss, out.loss, atol=1e-4)
    model.set_attn_implementation("eager")


def test_every_whole_pixel_of_a_384_px_image_round_trips_through_a_familys_loc_tokens():
    side = LOC_BINS
    for vocabulary in (PALIGEMMA_LOC, LocVocabulary(1000, "<loc_"), DEFAULT_LOC_VOCABULARY):
        bins = [vocabulary.encode(f"<loc{n}>") for n in range(LOC_BINS)]
        assert len(set(bins)) == LOC_BINS and set(bins) <= set(vocabulary.tokens)
        assert [vocabulary.decode(token) for token in bins] == [f"<loc{n}>" for n in range(LOC_BINS)]
        for pixel in range(side + 1):  # x == side is the last pixel's far edge: the last bin
            caption = render_loc(np.full((16, 2), float(pixel)), side, side)
            xy, found = parse_pixels([vocabulary.decode(vocabulary.encode(caption))], "loc_text", [[side, side]])
            assert found.all() and (xy == min(pixel, side - 1)).all()
    assert PALIGEMMA_LOC.tokens[0] == "<loc0000>" and PALIGEMMA_LOC.tokens[-1] == "<loc1023>"
    assert PALIGEMMA_LOC.encode("<loc383>") == "<loc1021>" and PALIGEMMA_LOC.decode("<loc1023>") == "<loc383>"
    assert PALIGEMMA_LOC.decode("x <loc1024>") == "x <loc1024>"  # no such bin: left for the parser to refuse


@pytest.mark.parametrize("column", ["text", "loc_text"])
def test_the_grammar_makes_an_untrained_model_parse_and_the_predictor_reads_its_loc_tokens(tiny, column):
    model, processor = tiny
    model.eval()
    predictor = PosePredictor(model, processor, Preprocessing("resize", 128), caption_column=column, device="cpu")
    assert predictor.loc == PALIGEMMA_LOC  # a text model too: its tokenizer's own loc tokens mark nothing
    frames = [Image.new("RGB", (128, 128), (40 * i, 90, 90)) for i in range(2)]
    captions, xy, found = predictor.frame_joints(frames)
    assert found.all() and ((xy >= 0) & (xy <= 128)).all(), captions
    if column == "loc_text":
        assert all(caption.count("<loc") == 32 and "<loc0" not in caption for caption in captions)  # ours again

    ids = processor.tokenizer([PALIGEMMA_LOC.encode(render_loc(np.full((16, 2), 64.0), 128, 128))])["input_ids"]
    scorer = PoseMetrics(processor.tokenizer, None, "loc_text", None, None, loc=PALIGEMMA_LOC)  # type: ignore[arg-type]
    assert scorer.decode(np.asarray(ids)) == [render_loc(np.full((16, 2), 64.0), 128, 128)]


def test_caption_lengths_are_counted_in_the_models_loc_tokens(tiny):
    tokenizer = tiny[1].tokenizer
    data = Dataset.from_dict({"loc_text": [render_loc(np.full((16, 2), 64.0), 128, 128)]})
    assert check_captions(data, "train", "loc_text", tokenizer, 32, PALIGEMMA_LOC) == 32  # one token each
    with pytest.raises(DataError, match="caption has 32 tokens"):
        check_captions(data, "train", "loc_text", tokenizer, 31, PALIGEMMA_LOC)
    assert check_captions(data, "train", "loc_text", tokenizer, 999) > 32  # the project's <locN>: not its tokens
