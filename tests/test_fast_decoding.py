"""BLIP's greedy captioning loop (``blip_pose.models.blip_greedy``) writes what ``generate`` writes.

The reference is the text decoder's own ``generate`` on the same image embeddings (what the project ran before the
loop). With single-token passes the loop must give the same ids, every step's scores bit for bit, and the same loss;
under a grammar alone it skips the decoder on forced steps and feeds their tokens in with the next free step's pass,
which must give the same ids and the free steps' scores to float rounding.
"""

from __future__ import annotations

import copy

import pytest
import torch
from test_constrained import wordpiece  # noqa: F401  (fixture: a WordPiece vocabulary splitting numbers)
from transformers import LogitsProcessor, LogitsProcessorList

from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import caption_loss, encode_images, encode_loss_generate
from blip_pose.loc_tokens import add_loc_tokens
from blip_pose.presets import build_preset
from blip_pose.sdpa import use_sdpa

SIZE = 384


class Recorder(LogitsProcessor):
    """Keeps every step's scores (and, first in a list, stops the loop from skipping the output layer)."""

    def __init__(self) -> None:
        self.scores: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.scores.append(scores.clone())
        return scores


def reference(model, embeds, steps, processors):
    """The text decoder's ``generate``, as ``BlipForConditionalGeneration.generate`` calls it."""
    text = model.config.text_config
    return model.text_decoder.generate(
        input_ids=torch.full((embeds.shape[0], 1), text.bos_token_id),
        encoder_hidden_states=embeds,
        encoder_attention_mask=torch.ones(embeds.shape[:-1], dtype=torch.long),
        eos_token_id=text.sep_token_id,
        pad_token_id=text.pad_token_id,
        max_new_tokens=steps,
        logits_processor=LogitsProcessorList(processors),
    )


def batch_for(tokenizer, n, seed):
    torch.manual_seed(seed)
    captions = ["rankl : 12, 34 rknee : 5, 6", "rankl : 300, 2"] * n
    text = tokenizer(captions[:n], padding="longest", return_tensors="pt")
    labels = text["input_ids"].masked_fill(text["attention_mask"] == 0, -100)
    return torch.randn(n, 3, 128, 128), text["input_ids"], text["attention_mask"], labels


def tiny_preset(attention: str):
    model, processor = build_preset("tiny")
    add_loc_tokens(model, processor.tokenizer)
    if attention == "sdpa":
        use_sdpa(model)
    return model.eval(), processor.tokenizer


@pytest.fixture(scope="module")
def preset():
    return tiny_preset("sdpa")


def run_both(model, grammar, pixels, input_ids, attention_mask, labels, steps):
    with torch.no_grad():
        embeds = encode_images(model, pixels)
        loss = caption_loss(model, embeds, input_ids, attention_mask, labels)
        before = Recorder()
        expected = reference(model, embeds, steps, [before] + ([grammar] if grammar else []))
    after = Recorder()
    processors = [after] + ([grammar] if grammar else [])
    out = encode_loss_generate(
        model,
        pixels,
        input_ids=input_ids,
        attention_mask=attention_mask,
        labels=labels,
        max_new_tokens=steps,
        logits_processor=LogitsProcessorList(processors),
    )
    return loss, expected, before, out, after


@pytest.mark.parametrize(
    ("attention", "column"), [("sdpa", "text"), ("sdpa", "loc_text"), ("sdpa", None), ("eager", "simple_text")]
)
def test_the_loop_gives_generates_ids_scores_and_loss_bit_for_bit(preset, attention, column):
    model, tokenizer = preset if attention == "sdpa" else tiny_preset(attention)
    grammar = CaptionGrammar(tokenizer, column, SIZE, SIZE) if column else None
    steps = grammar.max_new_tokens if grammar else 20
    loss, expected, before, out, after = run_both(model, grammar, *batch_for(tokenizer, 3, 0), steps)
    assert torch.equal(out.sequences, expected)
    assert out.loss is not None and torch.equal(out.loss, loss)
    assert len(after.scores) == len(before.scores) == expected.shape[1] - 1
    assert all(torch.equal(a, b) for a, b in zip(after.scores, before.scores))


@pytest.mark.parametrize("column", ["text", "loc_text"])
def test_forced_steps_skip_the_output_layer_and_change_no_token(preset, column):
    model, tokenizer = preset
    grammar = CaptionGrammar(tokenizer, column, SIZE, SIZE)
    pixels, *_ = batch_for(tokenizer, 4, 1)
    with torch.no_grad():
        expected = reference(model, encode_images(model, pixels), grammar.max_new_tokens, [grammar])
    heads = []
    handle = model.text_decoder.cls.predictions.transform.register_forward_hook(lambda *_: heads.append(1))
    out = encode_loss_generate(
        model, pixels, max_new_tokens=grammar.max_new_tokens, logits_processor=LogitsProcessorList([grammar])
    )
    handle.remove()
    assert torch.equal(out.sequences, expected)
    steps = expected.shape[1] - 1
    # text: only the 32 numbers are free with the presets' vocabulary (one token each); loc: every coordinate is free
    assert len(heads) == (32 if column == "text" else steps - 1)


class RecordingGrammar(CaptionGrammar):
    """The grammar, keeping the scores it masks (one per decoder pass that needs scores)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[torch.Tensor] = []
        self.columns: list[torch.Tensor | None] = []

    def mask_scores(self, states, scores, columns=None):
        self.seen.append(scores.clone())
        self.columns.append(columns)
        return super().mask_scores(states, scores, columns)


@pytest.mark.parametrize("column", ["text", "loc_text"])
def test_forced_runs_join_the_next_pass_with_the_same_ids_and_scores(preset, column):
    model, tokenizer = preset
    pixels, *_ = batch_for(tokenizer, 4, 4)
    grammar = RecordingGrammar(tokenizer, column, SIZE, SIZE)
    with torch.no_grad():
        before = Recorder()
        expected = reference(model, encode_images(model, pixels), grammar.max_new_tokens, [before, grammar])
    steps = expected.shape[1] - 1
    check = CaptionGrammar(tokenizer, column, SIZE, SIZE)
    free = [t for t in range(steps) if check.forced_tokens(check.row_states(expected[:, : t + 1])) is None]
    passes = []
    handle = model.text_decoder.bert.embeddings.register_forward_hook(lambda *_: passes.append(1))
    grammar.seen.clear()
    grammar.columns.clear()
    out = encode_loss_generate(model, pixels, max_new_tokens=steps, logits_processor=LogitsProcessorList([grammar]))
    handle.remove()
    assert torch.equal(out.sequences, expected)
    assert len(passes) == len(grammar.seen) == len(free)  # no labels, no loss pass: one pass per free step
    assert len(free) < steps if column == "text" else len(free) == steps - 1  # loc: only EOS is forced
    vocab = before.scores[0].shape[-1]
    for seen, columns, t in zip(grammar.seen, grammar.columns, free):
        # The output layer ran for the allowed tokens alone; their scores are generate's.
        assert columns is not None and len(columns) < vocab
        assert torch.allclose(seen, before.scores[t][:, columns], rtol=0, atol=1e-5)
        assert torch.isin(expected[:, t + 1], columns).all()  # every row's token was among them


def test_rows_out_of_step_with_a_wordpiece_vocabulary(wordpiece):  # noqa: F811
    """Numbers in pieces put rows in different slots: a step is skipped only when every row is forced."""
    model, tokenizer = wordpiece
    model = copy.deepcopy(model).eval()
    grammar = CaptionGrammar(tokenizer, "text", SIZE, SIZE)
    for seed in range(2):
        pixels, *_ = batch_for(tokenizer, 3, seed)
        with torch.no_grad():
            expected = reference(model, encode_images(model, pixels), grammar.max_new_tokens, [grammar])
        out = encode_loss_generate(
            model, pixels, max_new_tokens=grammar.max_new_tokens, logits_processor=LogitsProcessorList([grammar])
        )
        assert torch.equal(out.sequences, expected)


def test_other_searches_go_to_generate(preset):
    model, tokenizer = preset
    pixels, *_ = batch_for(tokenizer, 2, 2)
    out = encode_loss_generate(model, pixels, max_new_tokens=5, return_dict_in_generate=True)
    assert out.sequences is not None and out.sequences.sequences.shape == (2, 6)  # generate's output object
    with torch.no_grad():
        expected = model.generate(pixel_values=pixels, max_new_tokens=5, num_beams=2)
    assert torch.equal(encode_loss_generate(model, pixels, max_new_tokens=5, num_beams=2).sequences, expected)


def test_a_generation_config_with_a_processor_of_its_own_goes_to_generate(preset):
    model, tokenizer = preset
    model = copy.deepcopy(model)
    pixels, *_ = batch_for(tokenizer, 2, 3)
    with torch.no_grad():
        embeds = encode_images(model, pixels)
        plain = reference(model, embeds, 12, [])
        model.text_decoder.generation_config.suppress_tokens = [int(plain[0, 1])]
        expected = reference(model, embeds, 12, [])
    assert not torch.equal(expected, plain)  # the saved config changes the captions, so the check can fail
    assert torch.equal(encode_loss_generate(model, pixels, max_new_tokens=12).sequences, expected)
