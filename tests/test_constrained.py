"""Grammar-constrained decoding: an untrained BLIP writes only captions that parse, with any WordPiece vocabulary."""

import numpy as np
import pytest
import torch
from tokenizers import BertWordPieceTokenizer
from transformers import BertTokenizerFast, LogitsProcessorList

from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import encode_loss_generate
from blip_pose.loc_tokens import add_loc_tokens
from blip_pose.pose_format import CAPTION_COLUMNS, parse_pixels, render_captions
from blip_pose.presets import SPECIAL_TOKENS, build_preset

SIZE = 384


def generate(model, grammar, n=4, seed=0):
    torch.manual_seed(seed)
    pixels = torch.randn(n, 3, 128, 128)
    out = encode_loss_generate(
        model.eval(), pixels, max_new_tokens=grammar.max_new_tokens, logits_processor=LogitsProcessorList([grammar])
    )
    return out.sequences


def parse_rate(tokenizer, sequences, column):
    captions = tokenizer.batch_decode(sequences, skip_special_tokens=True)
    xy, found = parse_pixels(captions, column, np.full((len(captions), 2), float(SIZE)))
    joints = found.shape[1] if not CAPTION_COLUMNS[column].simple else 1
    return found.sum() / (len(captions) * joints), xy[found], captions


@pytest.fixture(scope="module")
def preset():
    model, processor = build_preset("tiny")
    add_loc_tokens(model, processor.tokenizer)
    return model, processor.tokenizer


@pytest.mark.parametrize("column", ["text", "simple_text", "normalized_text", "loc_text"])
def test_random_weights_write_only_parsable_captions_with_the_preset_tokenizer(preset, column):
    model, tokenizer = preset
    grammar = CaptionGrammar(tokenizer, column, SIZE, SIZE)
    sequences = generate(model, grammar)
    rate, values, captions = parse_rate(tokenizer, sequences, column)
    assert rate == 1.0, captions
    assert (values >= 0).all() and (values <= SIZE).all()
    # Every caption ends with EOS within the grammar's length bound.
    assert ((sequences == tokenizer.sep_token_id).sum(dim=1) == 1).all()
    assert sequences.shape[1] - 1 <= grammar.max_new_tokens


def test_unconstrained_random_weights_do_not_parse(preset):
    """The control: without the grammar the same model writes garbage, so the test above measures the grammar."""
    model, tokenizer = preset
    torch.manual_seed(0)
    out = encode_loss_generate(model.eval(), torch.randn(4, 3, 128, 128), max_new_tokens=40)
    assert parse_rate(tokenizer, out.sequences, "text")[0] < 0.5


def test_loc_grammar_is_32_coordinate_tokens_then_eos(preset):
    model, tokenizer = preset
    grammar = CaptionGrammar(tokenizer, "loc_text", SIZE, SIZE)
    sequences = generate(model, grammar)
    assert grammar.max_new_tokens == 33
    assert sequences.shape[1] == 34  # BOS + 32 + EOS: 33 decoder steps per image
    loc_ids = set(tokenizer.convert_tokens_to_ids([f"<loc{i}>" for i in range(384)]))
    assert all(int(t) in loc_ids for t in sequences[:, 1:33].reshape(-1))


@pytest.fixture(scope="module")
def wordpiece():
    """A BERT WordPiece tokenizer trained here on pose captions: joint names and most numbers come in pieces
    (``ran ##kl``, ``3 ##56``), like BLIP's BERT-uncased vocabulary writes them."""
    rng = np.random.default_rng(0)
    captions = []
    for _ in range(200):
        xy = rng.integers(0, SIZE, (16, 2)).astype(float)
        captions += list(render_captions(xy, np.ones(16), SIZE, SIZE).values())
    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(captions, vocab_size=150, special_tokens=list(SPECIAL_TOKENS))
    tokenizer = BertTokenizerFast(tokenizer_object=trainer._tokenizer, bos_token="[DEC]", model_max_length=512)
    tokenizer.add_special_tokens(
        {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
    )
    model, _ = build_preset("tiny")
    model.resize_token_embeddings(len(tokenizer))
    text = model.config.text_config
    text.vocab_size = len(tokenizer)
    text.bos_token_id, text.pad_token_id = tokenizer.bos_token_id, tokenizer.pad_token_id
    text.sep_token_id = text.eos_token_id = tokenizer.sep_token_id
    return model, tokenizer


@pytest.mark.parametrize("column", ["text", "normalized_text"])
def test_random_weights_parse_with_a_bert_wordpiece_vocabulary(wordpiece, column):
    model, tokenizer = wordpiece
    assert len(tokenizer.tokenize("rankl:356,123")) > 5  # names and numbers really are split into pieces
    grammar = CaptionGrammar(tokenizer, column, SIZE, SIZE)
    sequences = generate(model, grammar, n=3)
    rate, _, captions = parse_rate(tokenizer, sequences, column)
    assert rate == 1.0, captions
    # The pieces are the tokenizer's own split of the caption: what the model saw in training.
    for row, caption in zip(sequences.tolist(), captions):
        body = row[1 : row.index(tokenizer.sep_token_id)]
        assert body == tokenizer(caption, add_special_tokens=False)["input_ids"]


def test_a_tokenizer_that_does_not_split_punctuation_is_refused():
    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(["rankl:1,2"], vocab_size=60, special_tokens=list(SPECIAL_TOKENS))
    tokenizer = BertTokenizerFast(tokenizer_object=trainer._tokenizer)
    tokenizer.add_special_tokens({"pad_token": "[PAD]", "unk_token": "[UNK]", "sep_token": "[SEP]"})
    tokenizer.backend_tokenizer.pre_tokenizer = None  # whole caption, one "word"
    with pytest.raises(ValueError, match="WordPiece tokenizer that splits punctuation"):
        CaptionGrammar(tokenizer, "text", SIZE, SIZE)


def test_predictor_decodes_under_the_grammar_by_default(model_dir):
    from pose_model_fixtures import SAMPLE_IMAGES

    from blip_pose.predictor import PosePredictor

    poses = PosePredictor.from_pretrained(model_dir, device="cpu")(SAMPLE_IMAGES[:2])
    assert all(pose.found.all() for pose in poses)
    free = PosePredictor.from_pretrained(model_dir, device="cpu", constrained=False)(SAMPLE_IMAGES[:2])
    assert not all(pose.found.all() for pose in free)  # the untrained model alone writes no full caption


def test_a_step_masks_the_allowed_tokens_alone_as_it_masks_the_vocabulary(preset):
    """``allowed_ids`` + ``mask_scores(columns=)``: the same scores as masking the whole vocabulary, read at those
    ids; every other id is -inf in the full mask. Columns from other states are refused."""
    model, tokenizer = preset
    grammar = CaptionGrammar(tokenizer, "text", SIZE, SIZE)
    sequences = generate(model, grammar, n=3)
    vocab = model.config.text_config.vocab_size
    torch.manual_seed(1)
    checked = 0
    for t in range(1, sequences.shape[1]):
        states = grammar.row_states(sequences[:, :t])
        if grammar.forced_tokens(states) is not None:
            continue
        ids = grammar.allowed_ids(states)
        scores = torch.randn(3, vocab)
        full = grammar.mask_scores(states, scores)
        subset = grammar.mask_scores(states, scores[:, ids], columns=ids)
        assert torch.equal(subset, full[:, ids])
        outside = torch.ones(vocab, dtype=torch.bool)
        outside[ids] = False
        assert torch.isinf(full[:, outside]).all()
        checked += 1
        with pytest.raises(ValueError, match="columns must be allowed_ids"):
            grammar.mask_scores(states, scores[:, ids[:-1]], columns=ids[:-1])
    assert checked >= 32  # every number of the caption is a free step
