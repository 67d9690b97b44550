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


@pytest.mark.parametrize("name", ["tiny", "tiny-loc"])
def test_both_towers_start_with_std_002(name):
    """BlipVisionConfig's default initializer_range (1e-10) would leave the vision tower dead."""
    model, _ = build_preset(name)
    assert model.config.vision_config.initializer_range == model.config.text_config.initializer_range == 0.02
    for tower in (model.vision_model, model.text_decoder):
        coded = {"embeddings.position_embedding"} if name == "tiny-loc" else set()  # a code, not random
        weights = {n: p.detach() for n, p in tower.named_parameters() if p.dim() > 1 and n not in coded}
        assert len(weights) >= 10
        for n, w in weights.items():
            assert 0.017 < float(w.std()) < 0.023, n


def test_number_code_puts_close_values_close():
    model, processor = build_preset("tiny-numbers")
    plain, _ = build_preset("tiny")
    emb = model.text_decoder.get_input_embeddings().weight.detach()
    row = dict(
        zip(
            ["10", "11", "900", "500", "501", "505", "550"],
            processor.tokenizer.convert_tokens_to_ids(["10", "11", "900", "500", "501", "505", "550"]),
        )
    )

    def dist(a: str, b: str) -> float:
        return float((emb[row[a]] - emb[row[b]]).norm())

    assert dist("10", "11") < 0.5 * dist("10", "900")
    assert dist("500", "501") < dist("500", "505") < dist("500", "550")
    assert torch.equal(model.text_decoder.cls.predictions.decoder.weight.detach(), emb)  # tied: the output side too
    other = processor.tokenizer.convert_tokens_to_ids(["rankl", "[DEC]"])
    assert torch.equal(emb[other], plain.text_decoder.get_input_embeddings().weight.detach()[other])


def test_position_code_puts_neighbouring_patches_close():
    model, _ = build_preset("tiny-positions")
    pos = model.vision_model.embeddings.position_embedding.detach()[0]
    grid = 128 // 16
    patch = pos[1:].reshape(grid, grid, -1)

    def dist(a: tuple[int, int], b: tuple[int, int]) -> float:
        return float((patch[a] - patch[b]).norm())

    assert torch.all(pos[0] == 0)  # the class token
    assert 0 < dist((3, 3), (3, 4)) < dist((3, 3), (3, 7)) and 0 < dist((3, 3), (4, 3)) < dist((3, 3), (7, 3))
    assert dist((3, 3), (4, 4)) < dist((0, 0), (7, 7))
    assert len({tuple(p.tolist()) for p in pos[1:]}) == grid * grid  # every patch has its own code


def test_coded_preset_saves_and_reloads_its_codes(tmp_path):
    folder = save_preset("tiny-loc", tmp_path / "loc")
    model = BlipForConditionalGeneration.from_pretrained(folder)
    fresh, _ = build_preset("tiny-loc")
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
