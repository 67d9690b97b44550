"""BLIP's greedy captioning without ``generate``'s per-step machinery: the same captions, fewer passes.

``text_decoder.generate`` spends, per step, Python time on its own bookkeeping (inputs, model kwargs, stopping
criteria) and on the decoder's wrappers (output capture, mask building), which is most of a small decoder's step;
its first step computes the image's cross-attention keys/values that the loss pass just computed, and it reads
them, every step, in the strided layout the projection left them in. Here a plain loop calls the decoder's own
modules (embeddings, layers, output head), and:

* the cross-attention keys/values of the image come from the loss pass (:func:`loss_and_cross_cache`; without one,
  from the first pass), stored contiguous once (SDPA gives the same bits either way; a strided read took ~45 %
  longer);
* under a caption grammar alone, a step where every row has exactly one allowed token (a joint name, ``:``, ``,``,
  EOS, padding: more than half of a ``text`` caption) takes it without running the decoder at all, and the next
  step that needs scores feeds the decoder every token taken since in one pass ("jump-forward" decoding over a
  grammar's forced runs): BLIP-base's 83 ``text`` passes become 32, each reading the weights and the image's
  keys/values once. Greedy search could pick nothing else at a forced step, so the captions are the same; the
  scores of the remaining steps are the same to float rounding (~1e-7: a several-token pass rounds like a larger
  batch does), not bit for bit;
* at a step that needs scores, the output layer runs for the tokens the grammar allows in some row (a few hundred
  numbers) instead of the whole vocabulary: the others are -inf after masking, so greedy picks the same token;
* the self-attention keys/values go into one buffer per layer (:class:`_BufferedLayer`), not a new tensor per pass.

Without a grammar, or with other processors beside it, every step is one single-token pass, bit-identical to
``generate``. Only plain greedy search goes this way (one beam, no other ``generate`` arguments, a generation
config that adds no processor of its own); everything else goes to ``generate``. ``tests/test_fast_decoding.py``
checks the captions and scores against ``generate``'s.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import LogitsProcessorList, PreTrainedModel
from transformers.cache_utils import DynamicCache, DynamicLayer, EncoderDecoderCache
from transformers.models.blip.modeling_blip_text import BlipTextLMHeadModel

#: Generation-config fields that change nothing in greedy search with explicit length, EOS and padding.
_PLAIN = {
    "use_cache",
    "output_attentions",
    "output_hidden_states",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "decoder_start_token_id",
    "max_length",
    "max_new_tokens",
    "_from_model_config",
    "transformers_version",
}


def plain_greedy(decoder: PreTrainedModel, num_beams: int, generate_kwargs: dict[str, Any]) -> bool:
    """Whether ``decoder.generate`` would run plain greedy search (the only search :func:`greedy_captions` runs)."""
    config = decoder.generation_config
    extra = set(config.to_diff_dict()) - _PLAIN
    flags = config.use_cache and not config.output_attentions and not config.output_hidden_states
    return num_beams == 1 and not generate_kwargs and not extra and bool(flags)


def _cache(decoder: PreTrainedModel, cross: DynamicCache | None = None, capacity: int = 0) -> EncoderDecoderCache:
    """The decoder's cache; with a ``capacity``, its self-attention layers write into buffers of that many tokens."""
    config = decoder.config
    own = DynamicCache(config=config)
    if capacity:
        own.layers = [_BufferedLayer(capacity) for _ in own.layers]
    return EncoderDecoderCache(own, cross if cross is not None else DynamicCache(config=config))


class _BufferedLayer(DynamicLayer):
    """A self-attention cache layer that writes each pass's keys/values into one buffer allocated at the first
    pass (B, heads, ``capacity``, head size) and returns the filled prefix. ``DynamicLayer`` concatenates into a
    new tensor every pass, and at BLIP-base's size those fresh megabyte allocations (page faults included) cost
    ~1.5 s of a 32-pass batch of 8. The prefix's values are the concatenation's, bit for bit."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        batch, heads, _, size = key_states.shape
        self._keys = key_states.new_empty(batch, heads, self.capacity, size)
        self._values = value_states.new_empty(batch, heads, self.capacity, value_states.shape[-1])

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start = self.get_seq_length()  # the filled prefix is `keys` itself: no separate count to keep in step
        end = start + key_states.shape[-2]
        self._keys[:, :, start:end] = key_states
        self._values[:, :, start:end] = value_states
        self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
        return self.keys, self.values


def loss_and_cross_cache(
    decoder: PreTrainedModel,
    image_embeds: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, DynamicCache]:
    """The teacher-forced caption loss, and the image's cross-attention keys/values it computed on the way."""
    cache = _cache(decoder)
    out = decoder(
        input_ids=input_ids,
        attention_mask=attention_mask,
        encoder_hidden_states=image_embeds,
        labels=labels,
        reduction="mean",
        cache=cache,
    )
    return out.loss, cache.cross_attention_cache


def _contiguous(cross: DynamicCache) -> DynamicCache:
    """The image's keys/values, read at every decoding pass, made contiguous once (not read strided every time)."""
    for layer in cross.layers:
        assert isinstance(layer, DynamicLayer) and layer.keys is not None and layer.values is not None
        layer.keys, layer.values = layer.keys.contiguous(), layer.values.contiguous()
    return cross


def _causal_mask(batch: int, new: int, past: int, like: torch.Tensor) -> torch.Tensor:
    """The additive mask for ``new`` tokens after ``past`` cached ones (B, 1, new, past + new): zeros where a token
    may look (for one new token after an all-ones prompt, what the decoder builds), the dtype's minimum ahead."""
    mask = torch.zeros(batch, 1, new, past + new, dtype=like.dtype, device=like.device)
    if new > 1:
        ahead = torch.ones(new, new, dtype=torch.bool, device=like.device).triu(1)
        mask[..., past:].masked_fill_(ahead, torch.finfo(like.dtype).min)
    return mask


def _layer(
    layer: Any,
    hidden: torch.Tensor,
    image_embeds: torch.Tensor,
    mask: torch.Tensor,
    cache: EncoderDecoderCache,
) -> torch.Tensor:
    """``BlipTextLayer.forward`` in inference, the same calls without its wrappers (argument deprecation,
    checkpointing, feed-forward chunking: a signature inspection per call)."""
    if layer.chunk_size_feed_forward:
        return layer(hidden, image_embeds, attention_mask=mask, cache=cache)
    own, cross = layer.attention, layer.crossattention
    context, _ = own.self(hidden, attention_mask=mask, encoder_hidden_states=None, cache=cache)
    hidden = own.output(context, hidden)
    context, _ = cross.self(hidden, attention_mask=None, encoder_hidden_states=image_embeds, cache=cache)
    return layer.feed_forward_chunk(cross.output(context, hidden))


def _head_scores(decoder: BlipTextLMHeadModel, hidden: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The output layer's float32 scores (B, K) of tokens ``ids`` (K,) for ``hidden`` (B, dim): the rows of the
    vocabulary projection those tokens use, not all 30524 (BLIP-base: 94 MB read per pass otherwise)."""
    head = decoder.cls.predictions
    projection = head.decoder
    scores = torch.nn.functional.linear(head.transform(hidden), projection.weight[ids], projection.bias[ids])
    return scores.to(dtype=torch.float32)


@torch.no_grad()
def greedy_captions(
    decoder: BlipTextLMHeadModel,
    image_embeds: torch.Tensor,
    *,
    bos_token_id: int,
    eos_token_id: int,
    pad_token_id: int,
    max_new_tokens: int,
    logits_processor: LogitsProcessorList | None = None,
    cross_cache: DynamicCache | None = None,
) -> torch.Tensor:
    """(B, 1 + steps) ids, BOS first, as ``decoder.generate(bos prompt, encoder_hidden_states=image_embeds, ...)``
    writes them in greedy search (finished rows padded, stop when every row wrote EOS or at ``max_new_tokens``)."""
    batch, device = image_embeds.shape[0], image_embeds.device
    processors = list(logits_processor or [])
    grammar = processors[0] if len(processors) == 1 and hasattr(processors[0], "forced_tokens") else None
    bert, layers = decoder.bert, decoder.bert.encoder.layer
    cache = _cache(decoder, cross_cache, capacity=1 + max_new_tokens)
    sequences = torch.full((batch, 1), bos_token_id, dtype=torch.long, device=device)
    unfinished = torch.ones(batch, dtype=torch.long, device=device)
    fed = 0  # tokens of `sequences` already in the cache
    for _ in range(max_new_tokens):
        states = grammar.row_states(sequences) if grammar is not None else None
        forced = grammar.forced_tokens(states) if grammar is not None and states is not None else None
        if forced is not None:
            next_tokens = torch.tensor(forced, dtype=torch.long, device=device)
        else:
            new = sequences.shape[1] - fed
            hidden = bert.embeddings(input_ids=sequences[:, fed:], cache_length=fed)
            mask = _causal_mask(batch, new, fed, hidden)
            for layer in layers:
                hidden = _layer(layer, hidden, image_embeds, mask, cache)
            if fed == 0:  # the image's keys/values are in the cache now (the loss pass's or this pass's)
                _contiguous(cache.cross_attention_cache)
            fed += new
            if grammar is not None and states is not None:
                ids = grammar.allowed_ids(states, device)
                scores = grammar.mask_scores(states, _head_scores(decoder, hidden[:, -1], ids), columns=ids)
                next_tokens = ids[torch.argmax(scores, dim=-1)]
            else:
                scores = decoder.cls(hidden[:, -1:])[:, -1, :].to(copy=True, dtype=torch.float32)
                for processor in processors:
                    scores = processor(sequences, scores)
                next_tokens = torch.argmax(scores, dim=-1)
        next_tokens = next_tokens * unfinished + pad_token_id * (1 - unfinished)
        sequences = torch.cat([sequences, next_tokens[:, None]], dim=-1)
        unfinished = unfinished & (next_tokens != eos_token_id).long()
        if not bool(unfinished.any()):
            break
    return sequences
