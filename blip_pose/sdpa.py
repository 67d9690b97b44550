"""An SDPA attention path for BLIP, which transformers 5.24 runs in eager attention only.

``BlipForConditionalGeneration.from_pretrained(..., attn_implementation="sdpa")`` raises, so :func:`use_sdpa`
swaps the ``forward`` of every vision ``BlipAttention`` and text ``BlipTextSelfAttention`` of a loaded model for
one that calls :func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels, no materialised attention
matrix on GPU). Same projections, additive masks and KV cache as the eager code; attention probabilities are not
returned (nothing in this project reads them).
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn
from torch.nn.functional import scaled_dot_product_attention
from transformers.cache_utils import EncoderDecoderCache
from transformers.models.blip.modeling_blip import BlipAttention
from transformers.models.blip.modeling_blip_text import BlipTextSelfAttention

#: Where ``--attn_implementation`` may point.
ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa")


def _vision_forward(self: BlipAttention, hidden_states: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, None]:
    bsz, tgt_len, embed_dim = hidden_states.size()
    qkv = self.qkv(hidden_states).reshape(bsz, tgt_len, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    dropout = self.dropout.p if self.training else 0.0
    context = scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], dropout_p=dropout, scale=self.scale)
    return self.projection(context.transpose(1, 2).reshape(bsz, tgt_len, embed_dim)), None


def _text_forward(
    self: BlipTextSelfAttention,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    encoder_hidden_states: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
    cache: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    # Mirrors BlipTextSelfAttention.forward (transformers 5.24) with the score/softmax/matmul replaced by SDPA.
    hidden_shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
    query = self.query(hidden_states).view(hidden_shape).transpose(1, 2)
    is_cross = encoder_hidden_states is not None
    mask = encoder_attention_mask if is_cross else attention_mask
    layer_cache, is_updated = cache, False
    if isinstance(cache, EncoderDecoderCache):
        is_updated = bool(cache.is_updated.get(self.layer_idx))
        layer_cache = cache.cross_attention_cache if is_cross else cache.self_attention_cache
    if is_cross and cache is not None and is_updated:
        key = layer_cache.layers[self.layer_idx].keys
        value = layer_cache.layers[self.layer_idx].values
    else:
        states = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        kv_shape = (*states.shape[:-1], -1, self.attention_head_size)
        key = self.key(states).view(kv_shape).transpose(1, 2)
        value = self.value(states).view(kv_shape).transpose(1, 2)
        if cache is not None:
            key, value = layer_cache.update(key, value, self.layer_idx, kwargs=kwargs)
            if is_cross and isinstance(cache, EncoderDecoderCache):
                cache.is_updated[self.layer_idx] = True
    if mask is not None:
        mask = mask.to(device=query.device, dtype=query.dtype)  # additive (0 / dtype min), as eager adds it
    dropout = self.dropout.p if self.training else 0.0
    context = scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout)
    context = context.transpose(1, 2).reshape(*hidden_states.shape[:-1], self.all_head_size)
    return context, None


def use_sdpa(model: nn.Module) -> int:
    """Switch every BLIP attention module of ``model`` to SDPA in place; returns how many were switched."""
    count = 0
    for module in model.modules():
        if isinstance(module, BlipAttention):
            module.forward = types.MethodType(_vision_forward, module)  # type: ignore[method-assign]
            count += 1
        elif isinstance(module, BlipTextSelfAttention):
            module.forward = types.MethodType(_text_forward, module)
            count += 1
    return count


def set_attention(model: nn.Module, implementation: str) -> None:
    """``--attn_implementation``: ``eager`` (BLIP's own code) or ``sdpa`` (:func:`use_sdpa`)."""
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {implementation!r}")
    if implementation == "sdpa":
        use_sdpa(model)
