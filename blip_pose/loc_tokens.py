"""The ``<locN>`` coordinate tokens of ``loc_text`` captions: added to a tokenizer and to the decoder's embeddings.

The tokens are ordinary added tokens (not special ones) so that ``batch_decode(..., skip_special_tokens=True)``
keeps them for the parser. Each new embedding row (and output bias where the family has one) starts as the mean of
the rows of the digit string it replaces: ``<loc123>`` starts where the text caption's ``123`` is, so a pretrained
model's sense of numbers carries over instead of random rows. How the rows grow is the model family's
(:meth:`blip_pose.models.CaptionerFamily.resize_embeddings`). A family with loc tokens of its own (PaliGemma) names
them (:meth:`blip_pose.models.CaptionerFamily.loc_vocabulary`): its tokenizer has them, so nothing is added.
"""

from __future__ import annotations

from typing import Any, cast

from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.tokenization_utils_base import AddedToken

from blip_pose.models import family_for_config
from blip_pose.pose_format import DEFAULT_LOC_VOCABULARY, LocVocabulary


def has_loc_tokens(tokenizer: PreTrainedTokenizerBase, loc: LocVocabulary = DEFAULT_LOC_VOCABULARY) -> bool:
    """True when every token of ``loc`` (default: the project's added ``<locN>``) is one token of ``tokenizer``."""
    ids = cast("list[int]", tokenizer.convert_tokens_to_ids(list(loc.tokens)))
    return tokenizer.unk_token_id not in ids and None not in ids


def add_loc_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """Add the loc tokens to ``tokenizer`` and ``model`` (a no-op when present); returns how many were added.

    Loading a checkpoint saved after this restores both, so training, evaluation and the predictor see the same ids.
    """
    family = family_for_config(model.config)
    loc = family.loc_vocabulary(tokenizer)
    if has_loc_tokens(tokenizer, loc):
        embeddings: Any = model.get_input_embeddings()
        if embeddings.num_embeddings < len(tokenizer):
            raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the model embeds fewer")
        return 0
    # Digit strings before the tokens exist, so "123" is tokenized the way text captions write it.
    digit_ids = [tokenizer(str(i), add_special_tokens=False)["input_ids"] for i in range(loc.bins)]
    added = tokenizer.add_tokens([AddedToken(t, single_word=False, normalized=False) for t in loc.tokens])
    new_ids = cast("list[int]", tokenizer.convert_tokens_to_ids(list(loc.tokens)))
    family.resize_embeddings(model, len(tokenizer), dict(zip(new_ids, digit_ids)))
    return added
