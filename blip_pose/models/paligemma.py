"""The PaliGemma family: ``PaliGemmaForConditionalGeneration`` + ``PaliGemmaProcessor`` (SigLIP vision tower, one
linear projection, a Gemma decoder; ``google/paligemma-3b-pt-224`` and its fine-tunes, or a preset).

PaliGemma is a prefix-LM with no cross-attention. Traps this module answers for the rest of the project:

* The prefix: image tokens + ``<bos>`` + :data:`PROMPT` + ``"\\n"`` (the processor's layout), attended to both ways
  (``token_type_ids`` 0); the caption (the suffix) + ``<eos>`` is causal (``token_type_ids`` 1) and is all the loss
  covers. :class:`PaliGemmaCollator` builds what ``processor(images, PROMPT, suffix=captions)`` builds, from the
  tokenizer alone (a pixel-cache batch holds no images): labels -100 on the prefix and the padding, padded on the
  right so the prefix sits where generation puts it. The text prefix's ids travel in the config
  (``caption_prefix_ids``, set when a model is built or loaded): generation from image embeddings has no tokenizer.
* One vision pass: ``get_image_features`` (tower + projection) gives the image tokens' embeddings; ``forward`` and
  ``generate`` take them as ``mm_encoder_outputs`` (scattered at the image tokens; ``generate`` expands them for
  beams), so neither runs the tower again. :meth:`caption_loss` gets no ``token_type_ids``: they are the labels'
  mask (the suffix is exactly the labelled tokens). ``generate`` writes the prefix too: it is cut, and captions
  start with ``<bos>`` as other families' start with their start token.
* ``loc_text``: PaliGemma's tokenizer has its own 1024 ``<loc0000>``..``<loc1023>`` (:data:`PALIGEMMA_LOC`), which
  captions use directly (translated from the dataset's spelling at the model's edges); nothing is added.
* Its loss (``ForCausalLMLoss``) has no label smoothing: a non-zero ``--label_smoothing_factor`` sets the model's
  ``loss_function`` to the same shifted cross-entropy with smoothing (recorded in the config, set again at load).
* No cross-attention: the attention analysis refuses in one line. SDPA is transformers' own.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from transformers import (
    GemmaTokenizer,
    LogitsProcessorList,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.processing_utils import ProcessorMixin
from transformers.utils import ModelOutput

try:  # transformers >= 5 names the PIL-only processor separately (no torchvision needed)
    from transformers import SiglipImageProcessorPil as _SiglipImageProcessor
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import SiglipImageProcessor as _SiglipImageProcessor  # type: ignore[assignment]

from blip_pose.models.base import (
    CaptionerFamily,
    CrossAttentionSink,
    DecoderLayout,
    restore_label_smoothing,
    set_smoothed_loss,
)
from blip_pose.pose_parsing import DEFAULT_LOC_VOCABULARY, LocVocabulary
from blip_pose.training.collator import IGNORE_INDEX, PoseCaptionCollator

#: The task prompt every caption follows (PaliGemma's task style: a short word, the processor adds ``"\n"``).
PROMPT = "keypoints"
#: PaliGemma's own loc tokens: 1024 bins over the image side, ``<loc0000>``..``<loc1023>``.
PALIGEMMA_LOC = LocVocabulary(1024, "<loc", 4, ">")
#: The presets' SigLIP patch side: a preset processor's ``image_seq_length`` is ``(image_size // it) ** 2``.
PRESET_PATCH_SIZE = 16
#: The Gemma tokenizer's special tokens, in its id order.
_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")


@dataclass
class PaliGemmaCollator(PoseCaptionCollator):
    """The project's batches as PaliGemma takes them: prefix + caption + ``<eos>``, ``token_type_ids``, labels only
    on the caption and its end (see the module docstring)."""

    config: Any = None  # the model's PaliGemmaConfig (its image tokens and text prefix)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        processor: Any = self.processor
        tokenizer = processor.tokenizer
        prefix = _prefix_ids(self.config, _image_tokens(self.config))
        captions = tokenizer(self.captions(examples), add_special_tokens=False)["input_ids"]
        rows = [prefix + ids + [tokenizer.eos_token_id] for ids in captions]
        input_ids = torch.full((len(rows), max(map(len, rows))), tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row)
            attention_mask[i, : len(row)] = 1
        labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
        labels[:, : len(prefix)] = IGNORE_INDEX
        return {
            "pixel_values": self.pixel_values(examples),
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": _token_types(labels),
            "labels": labels,
        }


class PaliGemmaFamily(CaptionerFamily):
    """PaliGemma captioning with a task prompt (the caption is the answer)."""

    name = "paligemma"
    model_types: tuple[str, ...] = ("paligemma",)

    # --- loading and building --------------------------------------------------------------------------------------

    def load(
        self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any
    ) -> tuple[PaliGemmaForConditionalGeneration, PaliGemmaProcessor]:
        processor = PaliGemmaProcessor.from_pretrained(checkpoint, **hub)
        model = PaliGemmaForConditionalGeneration.from_pretrained(
            checkpoint, use_safetensors=True if safetensors_only else None, attn_implementation="eager", **hub
        )
        model.config.caption_prefix_ids = _text_prefix(processor.tokenizer)
        restore_label_smoothing(model, shifted=True)
        return model, processor

    def build_processor(self, vocabulary: Sequence[str], image_size: int, max_length: int) -> PaliGemmaProcessor:
        """A Gemma tokenizer (byte-fallback BPE over single characters, ``" "`` written ``"▁"``) whose caption words
        are added tokens, one token each; the processor adds ``<image>`` and the loc tokens. The project's ``<locN>``
        are left out: ``loc_text`` uses PaliGemma's own. SigLIP's normalisation, images resized to the square."""
        ours = set(DEFAULT_LOC_VOCABULARY.tokens)
        words = [w for w in vocabulary if not w.startswith(("[", "##")) and w not in ours]
        chars = sorted({c for w in words for c in w} | set(string.ascii_lowercase + string.digits) | {"▁", "\n"})
        vocab = {token: i for i, token in enumerate((*_SPECIALS, *(c for c in chars if c not in _SPECIALS)))}
        tokenizer = GemmaTokenizer(vocab=vocab, merges=[], model_max_length=max_length)
        tokenizer.add_tokens([w for w in words if len(w) > 1])  # normalized, as the processor adds the loc tokens
        image_processor: Any = _SiglipImageProcessor(size={"height": image_size, "width": image_size})
        image_processor.image_seq_length = (image_size // PRESET_PATCH_SIZE) ** 2
        return PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)

    def build_model(
        self, preset: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase, seed: int
    ) -> PaliGemmaForConditionalGeneration:
        """``preset``: ``vision`` (a ``SiglipVisionConfig``) and ``text`` (a ``GemmaConfig``) entries; the text
        positions also hold the image tokens and the text prefix."""
        std = preset["initializer_range"]
        vision = dict(preset["vision"], initializer_range=std, model_type="siglip_vision_model")
        prefix = _text_prefix(tokenizer)
        image_tokens = (vision["image_size"] // vision["patch_size"]) ** 2
        text = dict(preset["text"], initializer_range=std, model_type="gemma", vocab_size=len(tokenizer))
        text["max_position_embeddings"] += image_tokens + len(prefix)
        ids = {key: getattr(tokenizer, key) for key in ("pad_token_id", "bos_token_id", "eos_token_id")}
        config = PaliGemmaConfig(
            vision_config=vision,
            text_config=dict(text, **ids),
            image_token_index=int(cast("int", tokenizer.convert_tokens_to_ids("<image>"))),
            vocab_size=len(tokenizer),
            projection_dim=text["hidden_size"],
            hidden_size=text["hidden_size"],
            **ids,
        )
        config.caption_prefix_ids = prefix
        torch.manual_seed(seed)
        model = PaliGemmaForConditionalGeneration(config)
        model.set_attn_implementation("eager")
        for key, value in ids.items():
            setattr(model.generation_config, key, value)
        return model

    def vision_positions(self, model: PreTrainedModel) -> torch.Tensor:
        raise ValueError("the paligemma family's SigLIP tower has no class token: the positions code does not apply")

    # --- training ----------------------------------------------------------------------------------------------------

    def loc_vocabulary(self, tokenizer: PreTrainedTokenizerBase) -> LocVocabulary:
        return PALIGEMMA_LOC

    def collator(
        self, processor: ProcessorMixin, config: PretrainedConfig, caption_column: str, image_column: str
    ) -> PoseCaptionCollator:
        return PaliGemmaCollator(processor, None, caption_column, image_column, PALIGEMMA_LOC, config)

    def set_label_smoothing(self, model: PreTrainedModel, value: float) -> None:
        set_smoothed_loss(_paligemma(model), value, shifted=True)

    # --- one vision pass ---------------------------------------------------------------------------------------------

    def encode_images(self, model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
        """The projected image features (B, image tokens, text hidden size), as ``forward`` places them."""
        return _paligemma(model).model.get_image_features(pixel_values).pooler_output

    def caption_loss(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """What ``model(pixel_values, input_ids, attention_mask, token_type_ids, labels).loss`` computes, without the
        vision pass."""
        out = _paligemma(model)(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=_token_types(labels),
            labels=labels,
            mm_encoder_outputs=_encoded(image_embeds),
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
        """``<bos>`` + the caption (the prefix cut), or ``generate``'s output object with those ``sequences``."""
        paligemma = _paligemma(model)
        config: Any = paligemma.config
        prefix = torch.tensor(_prefix_ids(config, image_embeds.shape[1]), device=image_embeds.device)
        input_ids = prefix.expand(image_embeds.shape[0], -1)
        out = paligemma.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            token_type_ids=torch.zeros_like(input_ids),
            mm_encoder_outputs=_encoded(image_embeds),
            eos_token_id=self.end_token_id(config),
            pad_token_id=_text(config, "pad_token_id"),
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            logits_processor=logits_processor,
            **generate_kwargs,
        )
        output: Any = out
        sequences = output.sequences if isinstance(out, ModelOutput) else out
        bos = torch.full_like(sequences[:, :1], _text(config, "bos_token_id"))
        caption = torch.cat([bos, sequences[:, len(prefix) :]], dim=1)
        if isinstance(out, ModelOutput):
            output.sequences = caption
            return output
        return caption

    # --- vocabulary, budget, end --------------------------------------------------------------------------------------

    def resize_embeddings(self, model: PreTrainedModel, size: int, rows: Mapping[int, Sequence[int]]) -> None:
        paligemma = _paligemma(model)
        paligemma.resize_token_embeddings(size, mean_resizing=False)
        embeddings: Any = paligemma.get_input_embeddings().weight
        output: Any = paligemma.get_output_embeddings().weight
        with torch.no_grad():
            for token_id, pieces in rows.items():
                embeddings[token_id] = embeddings[list(pieces)].mean(dim=0)
                if output is not embeddings:
                    output[token_id] = output[list(pieces)].mean(dim=0)
        config: Any = paligemma.config
        config.text_config.vocab_size = size

    def max_positions(self, config: PretrainedConfig) -> int:
        """The text positions left after the prefix (image tokens, ``<bos>``, prompt)."""
        cfg: Any = config
        return int(cfg.text_config.max_position_embeddings) - len(_prefix_ids(cfg, _image_tokens(cfg)))

    def end_token_id(self, config: PretrainedConfig) -> int:
        return _text(config, "eos_token_id")

    # --- analyses and speed ---------------------------------------------------------------------------------------

    def decoder_layout(self, config: PretrainedConfig) -> DecoderLayout:
        cfg: Any = config
        vision = cfg.vision_config
        text = cfg.text_config
        return DecoderLayout(text.num_hidden_layers, text.num_attention_heads, vision.image_size // vision.patch_size)

    def cross_attention(
        self, model: PreTrainedModel, sink: CrossAttentionSink
    ) -> list[torch.utils.hooks.RemovableHandle]:
        raise NotImplementedError(
            "the paligemma family has no cross-attention (its image tokens are a prefix of the decoder's "
            "self-attention): the attention analysis needs a family with cross-attention (blip, ved)"
        )

    def use_sdpa(self, model: PreTrainedModel) -> int:
        _paligemma(model).set_attn_implementation("sdpa")
        return sum(1 for m in model.modules() if type(m).__name__.endswith("Attention"))


def _paligemma(model: PreTrainedModel) -> PaliGemmaForConditionalGeneration:
    if not isinstance(model, PaliGemmaForConditionalGeneration):
        name = type(model).__name__
        raise TypeError(f"the paligemma family runs PaliGemmaForConditionalGeneration models, got {name}")
    return model


def _text(config: Any, key: str) -> int:
    """A token id of the config, or of its text config where the top level has none (Hub configs differ)."""
    value = getattr(config, key, None)
    return int(value if value is not None else getattr(config.text_config, key))


def _text_prefix(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """``<bos>`` + the prompt + ``"\\n"`` as ids: what follows the image tokens."""
    prompt = tokenizer(PROMPT + "\n", add_special_tokens=False)["input_ids"]
    return [int(tokenizer.bos_token_id), *prompt]


def _image_tokens(config: Any) -> int:
    return int(config.text_config.num_image_tokens)


def _prefix_ids(config: Any, image_tokens: int) -> list[int]:
    """The whole prefix: ``image_tokens`` image tokens, then the text prefix recorded in the config."""
    return [int(config.image_token_id)] * image_tokens + list(config.caption_prefix_ids)


def _token_types(labels: torch.Tensor) -> torch.Tensor:
    """0 on the prefix (and padding), 1 on the caption: the labelled tokens."""
    return (labels != IGNORE_INDEX).long()


def _encoded(image_embeds: torch.Tensor) -> dict[str, BaseModelOutputWithPooling]:
    """Image features in the form ``forward`` and ``generate`` take instead of ``pixel_values``."""
    return {"image": BaseModelOutputWithPooling(pooler_output=image_embeds)}


#: The registered PaliGemma family (:mod:`blip_pose.models` registers it).
FAMILY = PaliGemmaFamily()
