"""The VisionEncoderDecoder family: ``VisionEncoderDecoderModel`` (a ViT encoder, a BERT decoder with
cross-attention) + ``TrOCRProcessor`` (the image processor and tokenizer pair transformers uses for this model).

Traps this module answers for the rest of the project:

* It is a seq2seq model: ``forward`` takes ``decoder_input_ids`` and compares the logits with ``labels`` *as given*
  (no shift inside; ``labels`` alone would be shifted right behind ``decoder_start_token_id``). The collator
  (:class:`VedCollator`) writes the tokenizer's ``[CLS] caption [SEP]`` as decoder inputs without the last token and
  labels without the first, so ``model(**batch)`` (the Trainer's loss) and generation (which starts from
  ``decoder_start_token_id`` = ``[CLS]``) see the same first token; padding labels are -100.
* One vision pass: the encoder's last hidden state goes to ``forward`` and to ``generate`` as ``encoder_outputs``
  (``generate`` then skips the encoder and expands them for beams itself); the projection between encoder and
  decoder (when their widths differ), the masks and the loss are the model's own code.
* The loss is a plain ``CrossEntropyLoss()`` built inside ``forward``: a non-zero ``--label_smoothing_factor`` is
  refused (a clear error) rather than silently ignored.
* Loaded in eager attention (the attention analysis reads probabilities; ``--attn_implementation sdpa`` switches
  it with transformers' own ``set_attn_implementation``). ``generate`` returns the decoder's cross-attention of
  every step; the hooks on the cross-attention modules read the same probabilities the way BLIP's are read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertTokenizer,
    LogitsProcessorList,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrOCRProcessor,
    VisionEncoderDecoderConfig,
    VisionEncoderDecoderModel,
    ViTConfig,
)
from transformers.modeling_outputs import BaseModelOutput
from transformers.processing_utils import ProcessorMixin

try:  # transformers >= 5 names the PIL-only processor separately (no torchvision needed)
    from transformers import ViTImageProcessorPil as _ViTImageProcessor
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import ViTImageProcessor as _ViTImageProcessor  # type: ignore[assignment]

from blip_pose.models.base import CaptionerFamily, CrossAttentionSink, DecoderLayout
from blip_pose.training.collator import PoseCaptionCollator


@dataclass
class VedCollator(PoseCaptionCollator):
    """The project's batches as a seq2seq model takes them: ``decoder_input_ids`` / ``decoder_attention_mask`` are
    the tokenized caption without its last position, ``labels`` the same caption one token ahead."""

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = super().__call__(examples)
        ids, mask, labels = batch.pop("input_ids"), batch.pop("attention_mask"), batch.pop("labels")
        return {
            **batch,
            "decoder_input_ids": ids[:, :-1],
            "decoder_attention_mask": mask[:, :-1],
            "labels": labels[:, 1:].contiguous(),
        }


class VedFamily(CaptionerFamily):
    """A vision encoder and a text decoder joined by cross-attention (ViT + BERT here; TrOCR-like checkpoints)."""

    name = "ved"
    model_types: tuple[str, ...] = ("vision-encoder-decoder",)

    # --- loading and building --------------------------------------------------------------------------------------

    def load(
        self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any
    ) -> tuple[VisionEncoderDecoderModel, TrOCRProcessor]:
        processor = TrOCRProcessor.from_pretrained(checkpoint, **hub)
        model = VisionEncoderDecoderModel.from_pretrained(
            checkpoint, use_safetensors=True if safetensors_only else None, attn_implementation="eager", **hub
        )
        return model, processor

    def build_processor(self, vocabulary: Sequence[str], image_size: int, max_length: int) -> TrOCRProcessor:
        vocab = {token: i for i, token in enumerate(vocabulary)}
        tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=max_length)
        image_processor = _ViTImageProcessor(size={"height": image_size, "width": image_size})
        return TrOCRProcessor(image_processor=image_processor, tokenizer=tokenizer)

    def build_model(
        self, preset: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase, seed: int
    ) -> VisionEncoderDecoderModel:
        """``preset``: ``vision`` (a ``ViTConfig``) and ``text`` (a ``BertConfig`` decoder) entries."""
        std = preset["initializer_range"]
        encoder = ViTConfig(**preset["vision"], initializer_range=std)
        decoder = BertConfig(
            **preset["text"],
            initializer_range=std,
            vocab_size=len(tokenizer),
            is_decoder=True,
            add_cross_attention=True,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        config = VisionEncoderDecoderConfig(encoder=encoder.to_dict(), decoder=decoder.to_dict())
        config.decoder_start_token_id = tokenizer.cls_token_id
        config.pad_token_id = tokenizer.pad_token_id
        config.eos_token_id = tokenizer.sep_token_id
        torch.manual_seed(seed)
        model = VisionEncoderDecoderModel(config=config)
        model.set_attn_implementation("eager")
        for key in ("decoder_start_token_id", "pad_token_id", "eos_token_id"):
            setattr(model.generation_config, key, getattr(config, key))
        return model

    def vision_positions(self, model: PreTrainedModel) -> torch.Tensor:
        encoder: Any = _ved(model).encoder
        return encoder.embeddings.position_embeddings

    # --- training ----------------------------------------------------------------------------------------------------

    def collator(
        self, processor: ProcessorMixin, config: PretrainedConfig, caption_column: str, image_column: str
    ) -> PoseCaptionCollator:
        return VedCollator(processor, None, caption_column, image_column)

    def set_label_smoothing(self, model: PreTrainedModel, value: float) -> None:
        if value:
            raise ValueError(
                "--label_smoothing_factor: VisionEncoderDecoderModel's loss has no label smoothing; use 0 for the ved "
                "family"
            )

    # --- one vision pass ---------------------------------------------------------------------------------------------

    def encode_images(self, model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden state (B, patches + 1, encoder hidden size)."""
        return _ved(model).encoder(pixel_values=pixel_values).last_hidden_state

    def caption_loss(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """``model(pixel_values, decoder_input_ids, decoder_attention_mask, labels).loss`` on the encoded images
        (``input_ids``, ``attention_mask``, ``labels``: the collator's decoder inputs and labels)."""
        out = _ved(model)(
            encoder_outputs=BaseModelOutput(last_hidden_state=image_embeds),
            decoder_input_ids=input_ids,
            decoder_attention_mask=attention_mask,
            labels=labels,
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
        config = _ved(model).config
        return _ved(model).generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=image_embeds),
            decoder_start_token_id=config.decoder_start_token_id,
            eos_token_id=config.eos_token_id,
            pad_token_id=config.pad_token_id,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            logits_processor=logits_processor,
            **generate_kwargs,
        )

    # --- vocabulary, budget, end --------------------------------------------------------------------------------------

    def resize_embeddings(self, model: PreTrainedModel, size: int, rows: Mapping[int, Sequence[int]]) -> None:
        decoder = _ved(model).decoder
        decoder.resize_token_embeddings(size, mean_resizing=False)
        embeddings: Any = decoder.get_input_embeddings().weight
        bias: Any = decoder.get_output_embeddings().bias  # the output matrix is tied to the embeddings
        with torch.no_grad():
            for token_id, pieces in rows.items():
                embeddings[token_id] = embeddings[list(pieces)].mean(dim=0)
                bias[token_id] = bias[list(pieces)].mean()
        _decoder(model.config).vocab_size = size

    def max_positions(self, config: PretrainedConfig) -> int:
        return int(_decoder(config).max_position_embeddings)

    def end_token_id(self, config: PretrainedConfig) -> int:
        return int(_cfg(config).eos_token_id)

    # --- analyses and speed ---------------------------------------------------------------------------------------

    def decoder_layout(self, config: PretrainedConfig) -> DecoderLayout:
        text, vision = _decoder(config), _cfg(config).encoder
        return DecoderLayout(text.num_hidden_layers, text.num_attention_heads, vision.image_size // vision.patch_size)

    def cross_attention(
        self, model: PreTrainedModel, sink: CrossAttentionSink
    ) -> list[torch.utils.hooks.RemovableHandle]:
        """Hooks on each decoder layer's cross-attention (eager attention returns its probabilities)."""
        decoder: Any = _ved(model).decoder
        layers = decoder.bert.encoder.layer
        return [
            block.crossattention.self.register_forward_hook(lambda m, i, out, k=k: sink(k, out[1]))
            for k, block in enumerate(layers)
        ]

    def use_sdpa(self, model: PreTrainedModel) -> int:
        _ved(model).set_attn_implementation("sdpa")
        return sum(1 for m in model.modules() if type(m).__name__.endswith(("SelfAttention", "CrossAttention")))


def _ved(model: PreTrainedModel) -> VisionEncoderDecoderModel:
    if not isinstance(model, VisionEncoderDecoderModel):
        raise TypeError(f"the ved family runs VisionEncoderDecoderModel models, got {type(model).__name__}")
    return model


def _cfg(config: PretrainedConfig) -> Any:
    return config


def _decoder(config: PretrainedConfig) -> Any:
    return _cfg(config).decoder


#: The registered VisionEncoderDecoder family (:mod:`blip_pose.models` registers it).
FAMILY = VedFamily()
