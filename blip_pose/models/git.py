"""The GIT family: ``GitForCausalLM`` + ``GitProcessor`` (CLIP-style ViT, BERT-style causal decoder).

GIT has no cross-attention: the projected image tokens are a *prefix* of the decoder's input (bidirectional among
themselves, the caption causal after them). GIT traps this module answers for the rest of the project:

* One vision pass: ``GitModel.forward`` encodes ``pixel_values`` itself, and ``generate`` passes them on the first
  step only. Loss and generation share one pass here by handing the model the *encoded* images in place of the
  pixels: :meth:`GitFamily.encode_images` returns the image encoder's last hidden state, and while the loss or
  ``generate`` runs, the image encoder's ``forward`` returns what it is given (the embeddings travel as a
  ``(B, 1, tokens, dim)`` "pixel" tensor, so ``generate`` expands them for beams like pixels). The projection,
  the prefix, the masks and the loss are the model's own code.
* Labels: ``forward`` shifts by itself (``logits[:, image tokens:-1]`` against ``labels[:, 1:]``, ignore index
  -100), and ``generate`` starts every caption with ``config.bos_token_id``, the tokenizer's ``[CLS]``: the
  collator keeps the tokenizer's first token (no start-token swap); the first label is never a target.
* GIT's loss (``ForCausalLMLoss``) has no label smoothing: a non-zero ``--label_smoothing_factor`` sets the model's
  ``loss_function`` to the same shifted cross-entropy with smoothing (recorded in the config, set again at load).
* The decoder's output layer is not tied to the input embeddings and has a bias: added tokens get rows in both.
* GIT's text attention is eager only: :meth:`use_sdpa` swaps the text and vision attention ``forward`` for SDPA
  (same projections and additive masks; no attention probabilities returned).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.nn.functional import cross_entropy, scaled_dot_product_attention
from transformers import (
    BertTokenizer,
    GitConfig,
    GitForCausalLM,
    GitProcessor,
    LogitsProcessorList,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.git.modeling_git import GitSelfAttention, GitVisionAttention

try:  # transformers >= 5 names the PIL-only processor separately (no torchvision needed)
    from transformers import CLIPImageProcessorPil as _CLIPImageProcessor
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import CLIPImageProcessor as _CLIPImageProcessor  # type: ignore[assignment]

from blip_pose.models.base import CaptionerFamily, CrossAttentionSink, DecoderLayout


class GitFamily(CaptionerFamily):
    """GIT captioning (``microsoft/git-base`` and its fine-tunes, or a preset)."""

    name = "git"
    model_types: tuple[str, ...] = ("git",)

    # --- loading and building --------------------------------------------------------------------------------------

    def load(
        self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any
    ) -> tuple[GitForCausalLM, GitProcessor]:
        processor = GitProcessor.from_pretrained(checkpoint, **hub)
        model = GitForCausalLM.from_pretrained(checkpoint, use_safetensors=True if safetensors_only else None, **hub)
        smoothing = float(getattr(model.config, "label_smoothing", 0.0) or 0.0)
        if smoothing:
            self.set_label_smoothing(model, smoothing)
        return model, processor

    def build_processor(self, vocabulary: Sequence[str], image_size: int, max_length: int) -> GitProcessor:
        """BERT WordPiece over ``vocabulary`` (``[CLS]`` starts, ``[SEP]`` ends) and CLIP's normalisation; images are
        resized to the square (no centre crop: a crop would cut joints off the frame)."""
        vocab = {token: i for i, token in enumerate(vocabulary)}
        tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=max_length)
        size = {"height": image_size, "width": image_size}
        image_processor = _CLIPImageProcessor(size=size, crop_size=size, do_center_crop=False)
        return GitProcessor(image_processor=image_processor, tokenizer=tokenizer)

    def build_model(self, preset: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase, seed: int) -> GitForCausalLM:
        """``preset``: ``vision`` and ``text`` config entries, ``initializer_range``."""
        std = preset["initializer_range"]
        config = GitConfig(
            vision_config=dict(preset["vision"], initializer_range=std),
            **preset["text"],
            initializer_range=std,
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        torch.manual_seed(seed)
        return GitForCausalLM(config)

    def vision_positions(self, model: PreTrainedModel) -> torch.Tensor:
        return _git(model).git.image_encoder.vision_model.embeddings.position_embedding.weight.unsqueeze(0)

    # --- training ----------------------------------------------------------------------------------------------------

    def set_label_smoothing(self, model: PreTrainedModel, value: float) -> None:
        git = _git(model)
        if value:
            git.loss_function = _smoothed_causal_loss(value)
        elif "_loss_function" in vars(git):
            del git._loss_function
        git.config.label_smoothing = value

    # --- one vision pass ---------------------------------------------------------------------------------------------

    def encode_images(self, model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
        """The image encoder's last hidden state (B, patches + 1, vision hidden size), before GIT's projection."""
        return _git(model).git.image_encoder(pixel_values).last_hidden_state

    def caption_loss(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """What ``model(pixel_values, input_ids, attention_mask, labels).loss`` computes, without the vision pass."""
        git = _git(model)
        with _encoded_images(git):
            out = git(
                input_ids=input_ids, attention_mask=attention_mask, pixel_values=image_embeds[:, None], labels=labels
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
        git = _git(model)
        with _encoded_images(git):
            return git.generate(
                pixel_values=image_embeds[:, None],
                bos_token_id=git.config.bos_token_id,
                eos_token_id=git.config.eos_token_id,
                pad_token_id=git.config.pad_token_id,
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                logits_processor=logits_processor,
                **generate_kwargs,
            )

    # --- vocabulary, budget, end --------------------------------------------------------------------------------------

    def resize_embeddings(self, model: PreTrainedModel, size: int, rows: Mapping[int, Sequence[int]]) -> None:
        git = _git(model)
        git.resize_token_embeddings(size, mean_resizing=False)
        embeddings: Any = git.get_input_embeddings().weight
        output: Any = git.output
        with torch.no_grad():
            for token_id, pieces in rows.items():
                embeddings[token_id] = embeddings[list(pieces)].mean(dim=0)
                output.weight[token_id] = output.weight[list(pieces)].mean(dim=0)
                output.bias[token_id] = output.bias[list(pieces)].mean()
        git.config.vocab_size = size

    def max_positions(self, config: PretrainedConfig) -> int:
        return int(_cfg(config).max_position_embeddings)

    def end_token_id(self, config: PretrainedConfig) -> int:
        return int(_cfg(config).eos_token_id)

    # --- analyses and speed ---------------------------------------------------------------------------------------

    def decoder_layout(self, config: PretrainedConfig) -> DecoderLayout:
        vision = _cfg(config).vision_config
        return DecoderLayout(
            _cfg(config).num_hidden_layers, _cfg(config).num_attention_heads, vision.image_size // vision.patch_size
        )

    def cross_attention(
        self, model: PreTrainedModel, sink: CrossAttentionSink
    ) -> list[torch.utils.hooks.RemovableHandle]:
        raise NotImplementedError(
            "the git family has no cross-attention (its image tokens are a prefix of the decoder's self-attention): "
            "the attention analysis needs a family with cross-attention (blip, ved)"
        )

    def use_sdpa(self, model: PreTrainedModel) -> int:
        count = 0
        for module in _git(model).modules():
            if isinstance(module, GitSelfAttention):
                module.forward = types.MethodType(_text_forward, module)
                count += 1
            elif isinstance(module, GitVisionAttention):
                module.forward = types.MethodType(_vision_forward, module)  # type: ignore[method-assign]
                count += 1
        return count


def _git(model: PreTrainedModel) -> GitForCausalLM:
    if not isinstance(model, GitForCausalLM):
        raise TypeError(f"the GIT family runs GitForCausalLM models, got {type(model).__name__}")
    return model


def _cfg(config: PretrainedConfig) -> Any:
    """The GIT config (its fields are not on the base class)."""
    return config


@contextmanager
def _encoded_images(model: GitForCausalLM) -> Iterator[None]:
    """While active, GIT's image encoder returns its input ``(B, 1, tokens, dim)`` as the last hidden state."""
    encoder = model.git.image_encoder
    encoder.forward = _pass_through
    try:
        yield
    finally:
        del encoder.forward


def _pass_through(pixel_values: torch.Tensor, **kwargs: Any) -> BaseModelOutput:
    return BaseModelOutput(last_hidden_state=pixel_values[:, 0])


def _smoothed_causal_loss(value: float) -> Callable[..., torch.Tensor]:
    """GIT's shifted causal-LM loss (it hands over ``shift_labels``) with label smoothing ``value``."""

    def loss(logits: torch.Tensor, labels: Any, vocab_size: int, **kwargs: Any) -> torch.Tensor:
        targets = kwargs["shift_labels"].reshape(-1).to(logits.device)
        return cross_entropy(logits.float().reshape(-1, vocab_size), targets, label_smoothing=value)

    return loss


def _text_forward(
    self: GitSelfAttention,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    cache: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    # Mirrors GitSelfAttention.forward (transformers 5.25) with the score/softmax/matmul replaced by SDPA.
    hidden_shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
    query = self.query(hidden_states).view(hidden_shape).transpose(1, 2)
    key = self.key(hidden_states).view(hidden_shape).transpose(1, 2)
    value = self.value(hidden_states).view(hidden_shape).transpose(1, 2)
    if cache is not None:
        key, value = cache.update(key, value, self.layer_idx, kwargs=kwargs)
    if attention_mask is not None:
        attention_mask = attention_mask.to(dtype=query.dtype)  # additive (0 / dtype min), as eager adds it
    dropout = self.dropout.p if self.training else 0.0
    context = scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout)
    return context.transpose(1, 2).reshape(*hidden_states.shape[:-1], self.all_head_size), None


def _vision_forward(
    self: GitVisionAttention, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
) -> tuple[torch.Tensor, None]:
    shape = (*hidden_states.shape[:-1], -1, self.head_dim)
    q, k, v = (proj(hidden_states).view(shape).transpose(1, 2) for proj in (self.q_proj, self.k_proj, self.v_proj))
    dropout = self.dropout if self.training else 0.0
    context = scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=dropout, scale=self.scale)
    return self.out_proj(context.transpose(1, 2).reshape(*hidden_states.shape[:-1], -1)), None


#: The registered GIT family (:mod:`blip_pose.models` registers it).
FAMILY = GitFamily()
