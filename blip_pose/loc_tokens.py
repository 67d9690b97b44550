"""The ``<locN>`` coordinate tokens of ``loc_text`` captions: added to a tokenizer and to BLIP's decoder embeddings.

The tokens are ordinary added tokens (not special ones) so that ``batch_decode(..., skip_special_tokens=True)``
keeps them for the parser. Each new embedding row (and output bias, the decoder ties its output matrix to the input
embeddings) starts as the mean of the rows of the digit string it replaces: ``<loc123>`` starts where the text
caption's ``123`` is, so a pretrained BLIP's sense of numbers carries over instead of random rows.
"""

from __future__ import annotations

from typing import cast

import torch
from transformers import BlipForConditionalGeneration, PreTrainedTokenizerBase
from transformers.tokenization_utils_base import AddedToken

from blip_pose.pose_format import LOC_TOKENS


def has_loc_tokens(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True when every ``<locN>`` is one token of ``tokenizer``."""
    ids = cast("list[int]", tokenizer.convert_tokens_to_ids(list(LOC_TOKENS)))
    return tokenizer.unk_token_id not in ids and None not in ids


def add_loc_tokens(model: BlipForConditionalGeneration, tokenizer: PreTrainedTokenizerBase) -> int:
    """Add the loc tokens to ``tokenizer`` and ``model`` (a no-op when present); returns how many were added.

    Loading a checkpoint saved after this restores both, so training, evaluation and the predictor see the same ids.
    """
    if has_loc_tokens(tokenizer):
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the model embeds fewer")
        return 0
    # Digit strings before the tokens exist, so "123" is tokenized the way text captions write it.
    digit_ids = [tokenizer(str(i), add_special_tokens=False)["input_ids"] for i in range(len(LOC_TOKENS))]
    added = tokenizer.add_tokens([AddedToken(t, single_word=False, normalized=False) for t in LOC_TOKENS])
    new_ids = cast("list[int]", tokenizer.convert_tokens_to_ids(list(LOC_TOKENS)))
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    decoder = model.text_decoder
    embeddings = decoder.get_input_embeddings().weight
    bias = decoder.cls.predictions.bias
    with torch.no_grad():
        for token_id, pieces in zip(new_ids, digit_ids):
            embeddings[token_id] = embeddings[pieces].mean(dim=0)
            if bias.shape[0] > token_id:
                bias[token_id] = bias[pieces].mean()
    model.config.text_config.vocab_size = len(tokenizer)  # type: ignore[union-attr]  # a union of config kinds
    return added
