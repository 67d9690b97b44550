"""The BLIP family: ``BlipForConditionalGeneration`` + ``BlipProcessor`` (ViT encoder, BERT-style text decoder).

BLIP traps this module answers for the rest of the project:

* ``generate`` starts every caption with the decoder BOS (``[DEC]``, ``text_config.bos_token_id``) while ``forward``
  takes ``input_ids`` as given and the tokenizer writes ``[CLS]`` first: the collator swaps the BOS in
  (:meth:`BlipFamily.caption_start_token_id`), so training shows the model the first token generation does.
* ``forward`` (the loss) and ``generate`` each run the vision encoder; here the embeddings are computed once and
  handed to the text decoder twice, teacher-forced for the loss and to generation exactly as
  ``BlipForConditionalGeneration.generate`` does (prompt = the BOS alone, stop at SEP). ``text_decoder.generate``
  does not read the saved generation config, so the length limit is always explicit. Plain greedy search runs
  :mod:`blip_pose.models.blip_greedy`'s loop instead (the same ids, fewer passes); other searches ``generate``.
* ``BlipTextLMHeadModel`` copies ``config.label_smoothing`` into an attribute at init: both are set.
* The decoder ties its output matrix to the input embeddings but has its own output bias; added tokens get both.
* transformers 5.x runs BLIP in eager attention only (``attn_implementation="sdpa"`` raises): :meth:`use_sdpa`
  swaps the ``forward`` of every vision ``BlipAttention`` and text ``BlipTextSelfAttention`` for one that calls
  :func:`torch.nn.functional.scaled_dot_product_attention` (same projections, additive masks and KV cache;
  attention probabilities are not returned, nothing in the project reads them on that path).
* ``generate`` drops the decoder's cross-attention (it is not an encoder-decoder model to ``generate``): the
  attention analysis reads it through forward hooks on the cross-attention modules.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.nn.functional import scaled_dot_product_attention
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipProcessor,
    LogitsProcessorList,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.cache_utils import EncoderDecoderCache
from transformers.models.blip.modeling_blip import BlipAttention
from transformers.models.blip.modeling_blip_text import BlipTextSelfAttention

try:  # transformers >= 5 names the PIL-only processor separately (no torchvision needed)
    from transformers import BlipImageProcessorPil as _BlipImageProcessor
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import BlipImageProcessor as _BlipImageProcessor  # type: ignore[assignment]

from blip_pose.models.base import CaptionerFamily, CrossAttentionSink, DecoderLayout
from blip_pose.models.blip_greedy import greedy_captions, loss_and_cross_cache, plain_greedy


class BlipFamily(CaptionerFamily):
    """BLIP captioning. A subclass with other ``model_class``/``model_types`` serves a BLIP-shaped variant."""

    name = "blip"
    model_types: tuple[str, ...] = ("blip",)
    model_class: type[BlipForConditionalGeneration] = BlipForConditionalGeneration
    config_class: type[BlipConfig] = BlipConfig

    # --- loading and building --------------------------------------------------------------------------------------

    def load(
        self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any
    ) -> tuple[BlipForConditionalGeneration, BlipProcessor]:
        processor = BlipProcessor.from_pretrained(checkpoint, **hub)
        model = self.model_class.from_pretrained(checkpoint, use_safetensors=True if safetensors_only else None, **hub)
        return model, processor

    def build_processor(self, vocabulary: Sequence[str], image_size: int, max_length: int) -> BlipProcessor:
        """BERT WordPiece over ``vocabulary`` (decoder BOS ``[DEC]``) and BLIP's image normalisation."""
        vocab = {token: i for i, token in enumerate(vocabulary)}
        tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, bos_token="[DEC]", model_max_length=max_length)
        image_processor = _BlipImageProcessor(size={"height": image_size, "width": image_size})
        return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)

    def build_model(
        self, preset: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase, seed: int
    ) -> BlipForConditionalGeneration:
        """``preset``: ``vision`` and ``text`` config entries, ``projection_dim``, ``initializer_range`` (both towers:
        ``BlipVisionConfig`` defaults to 1e-10, which leaves a random vision tower all but dead)."""
        std = preset["initializer_range"]
        text = dict(
            preset["text"],
            initializer_range=std,
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            sep_token_id=tokenizer.sep_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        config = self.config_class(
            text_config=text,
            vision_config=dict(preset["vision"], initializer_range=std),
            projection_dim=preset["projection_dim"],
            initializer_range=std,
        )
        torch.manual_seed(seed)
        return self.model_class(config)

    def vision_positions(self, model: PreTrainedModel) -> torch.Tensor:
        return _blip(model).vision_model.embeddings.position_embedding

    # --- training ----------------------------------------------------------------------------------------------------

    def caption_start_token_id(self, config: PretrainedConfig) -> int:
        return int(_text(config).bos_token_id)

    def set_label_smoothing(self, model: PreTrainedModel, value: float) -> None:
        _blip(model).text_decoder.label_smoothing = value
        _text(model.config).label_smoothing = value

    # --- one vision pass ---------------------------------------------------------------------------------------------

    def encode_images(self, model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
        """The vision encoder's last hidden state (B, patches + 1, vision hidden size)."""
        return _blip(model).vision_model(pixel_values=pixel_values).last_hidden_state

    def caption_loss(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """What ``model(pixel_values, input_ids, attention_mask, labels).loss`` computes, without the vision pass."""
        out = _blip(model).text_decoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=image_embeds,
            labels=labels,
            reduction="mean",
        )
        return out.loss

    def generate_from_embeds(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        max_new_tokens: int,
        num_beams: int = 1,
        logits_processor: LogitsProcessorList | None = None,
        **generate_kwargs: Any,
    ) -> Any:
        return self._captions(model, image_embeds, max_new_tokens, num_beams, logits_processor, None, generate_kwargs)

    def loss_and_captions(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
        max_new_tokens: int,
        num_beams: int = 1,
        logits_processor: LogitsProcessorList | None = None,
        **generate_kwargs: Any,
    ) -> tuple[torch.Tensor, Any]:
        """Greedy search reuses the image's cross-attention keys/values of the loss pass (:mod:`.blip_greedy`)."""
        decoder = _blip(model).text_decoder
        if not plain_greedy(decoder, num_beams, generate_kwargs):
            return super().loss_and_captions(
                model,
                image_embeds,
                input_ids,
                attention_mask,
                labels,
                max_new_tokens,
                num_beams,
                logits_processor,
                **generate_kwargs,
            )
        loss, cross = loss_and_cross_cache(decoder, image_embeds, input_ids, attention_mask, labels)
        captions = self._captions(model, image_embeds, max_new_tokens, num_beams, logits_processor, cross, {})
        return loss, captions

    def _captions(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        max_new_tokens: int,
        num_beams: int,
        logits_processor: LogitsProcessorList | None,
        cross: Any,
        generate_kwargs: dict[str, Any],
    ) -> Any:
        text, decoder = _text(model.config), _blip(model).text_decoder
        ids = {"eos_token_id": text.sep_token_id, "pad_token_id": text.pad_token_id}
        if plain_greedy(decoder, num_beams, generate_kwargs):
            return greedy_captions(
                decoder,
                image_embeds,
                bos_token_id=text.bos_token_id,
                max_new_tokens=max_new_tokens,
                logits_processor=logits_processor,
                cross_cache=cross,
                **ids,
            )
        batch = image_embeds.shape[0]
        prompt = torch.full((batch, 1), text.bos_token_id, dtype=torch.long, device=image_embeds.device)
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        return decoder.generate(
            input_ids=prompt,
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=image_mask,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            logits_processor=logits_processor,
            **ids,
            **generate_kwargs,
        )

    # --- vocabulary, budget, end --------------------------------------------------------------------------------------

    def resize_embeddings(self, model: PreTrainedModel, size: int, rows: Mapping[int, Sequence[int]]) -> None:
        model.resize_token_embeddings(size, mean_resizing=False)
        decoder = _blip(model).text_decoder
        embeddings = decoder.get_input_embeddings().weight
        bias = decoder.cls.predictions.bias
        with torch.no_grad():
            for token_id, pieces in rows.items():
                embeddings[token_id] = embeddings[list(pieces)].mean(dim=0)
                if bias.shape[0] > token_id:
                    bias[token_id] = bias[list(pieces)].mean()
        _text(model.config).vocab_size = size

    def max_positions(self, config: PretrainedConfig) -> int:
        return int(_text(config).max_position_embeddings)

    def end_token_id(self, config: PretrainedConfig) -> int:
        return int(_text(config).sep_token_id)

    # --- analyses and speed ---------------------------------------------------------------------------------------

    def decoder_layout(self, config: PretrainedConfig) -> DecoderLayout:
        text, vision = _text(config), config.vision_config
        return DecoderLayout(text.num_hidden_layers, text.num_attention_heads, vision.image_size // vision.patch_size)

    def cross_attention(
        self, model: PreTrainedModel, sink: CrossAttentionSink
    ) -> list[torch.utils.hooks.RemovableHandle]:
        """Hooks on each decoder layer's cross-attention (``output_attentions=True`` makes it return probabilities)."""
        layers = _blip(model).text_decoder.bert.encoder.layer
        return [
            block.crossattention.self.register_forward_hook(lambda m, i, out, k=k: sink(k, out[1]))
            for k, block in enumerate(layers)
        ]

    def use_sdpa(self, model: PreTrainedModel) -> int:
        count = 0
        for module in model.modules():
            if isinstance(module, BlipAttention):
                module.forward = types.MethodType(_vision_forward, module)  # type: ignore[method-assign]
                count += 1
            elif isinstance(module, BlipTextSelfAttention):
                module.forward = types.MethodType(_text_forward, module)
                count += 1
        return count


def _blip(model: PreTrainedModel) -> BlipForConditionalGeneration:
    if not isinstance(model, BlipForConditionalGeneration):
        raise TypeError(f"the BLIP family runs BlipForConditionalGeneration models, got {type(model).__name__}")
    return model


def _text(config: PretrainedConfig) -> Any:
    """The text config (typed by transformers as a union of config kinds)."""
    return config.text_config


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


#: The registered BLIP family (:mod:`blip_pose.models` registers it).
FAMILY = BlipFamily()
