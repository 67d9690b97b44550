"""The offline model presets load like any checkpoint and tokenize captions the way the parser expects."""

import numpy as np
import pytest
import torch
from transformers import BlipForConditionalGeneration, BlipProcessor

from blip_pose.pose_format import parse_coords, render_coords, render_normalized
from blip_pose.presets import MAX_CAPTION_TOKENS, SPECIAL_TOKENS, build_preset, save_preset


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_preset("tiny", tmp_path_factory.mktemp("tiny"))


def test_tiny_preset_saves_safetensors_and_reloads(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "processor_config.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    model = BlipForConditionalGeneration.from_pretrained(tiny_dir)
    fresh, _ = build_preset("tiny")
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name


def test_tokenizer_ids_match_the_model_config(tiny_dir):
    processor = BlipProcessor.from_pretrained(tiny_dir)
    tok, text_cfg = processor.tokenizer, BlipForConditionalGeneration.from_pretrained(tiny_dir).config.text_config
    assert tok.convert_ids_to_tokens(text_cfg.bos_token_id) == "[DEC]"
    assert tok.pad_token_id == text_cfg.pad_token_id and tok.sep_token_id == text_cfg.sep_token_id
    assert len(tok) == text_cfg.vocab_size
    assert tok.convert_ids_to_tokens(list(range(len(SPECIAL_TOKENS)))) == list(SPECIAL_TOKENS)


def test_captions_tokenize_without_unknowns_and_decode_back(tiny_dir):
    tok = BlipProcessor.from_pretrained(tiny_dir).tokenizer
    xy = np.random.default_rng(0).uniform(0, 384, (16, 2))
    caption = render_coords(xy)
    ids = tok(caption).input_ids
    assert tok.unk_token_id not in ids
    assert len(ids) <= tok.model_max_length
    decoded = tok.decode(ids, skip_special_tokens=True)
    parsed = parse_coords(decoded)
    assert parsed.found.all() and np.array_equal(parsed.xy, parse_coords(caption).xy)


def test_generation_starts_from_the_decoder_bos(tiny_dir):
    model = BlipForConditionalGeneration.from_pretrained(tiny_dir)
    out = model.generate(pixel_values=torch.zeros(2, 3, 128, 128), max_new_tokens=3)
    assert (out[:, 0] == model.config.text_config.bos_token_id).all()


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="unknown model preset 'huge'.*tiny"):
        build_preset("huge")


def test_longest_captions_fit_the_tiny_preset(tiny_dir):
    tok = BlipProcessor.from_pretrained(tiny_dir).tokenizer
    worst = {
        "normalized": render_normalized(np.full((16, 2), 19.2), 384, 384),  # "0.050": zero-padded decimals
        "pixel": render_coords(np.full((16, 2), -383.0)),  # minus signs are tokens of their own
    }
    for kind, caption in worst.items():
        ids = tok(caption).input_ids
        assert tok.unk_token_id not in ids, kind
        assert len(ids) <= tok.model_max_length == MAX_CAPTION_TOKENS, (kind, len(ids))
