"""What the project asks of a captioning model family: :class:`CaptionerFamily`.

Every generic module (training, generation, the caption grammar, presets, the predictor, analyses) holds a
``PreTrainedModel`` and a ``ProcessorMixin`` and asks the family of ``model.config.model_type`` for anything that
depends on the architecture: how to load it, build it at random, batch captions for it, run its vision tower once
for loss and generation, grow its vocabulary, its decoder's budget and end token, its cross-attention and a fast
attention path. A family is one module under :mod:`blip_pose.models` registered with
:func:`blip_pose.models.register_family`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch.nn.functional import cross_entropy
from transformers import LogitsProcessorList, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.processing_utils import ProcessorMixin

from blip_pose.pose_parsing import DEFAULT_LOC_VOCABULARY, LocVocabulary
from blip_pose.training.collator import IGNORE_INDEX, PoseCaptionCollator

#: ``sink(layer index, attention probabilities (B, heads, T, image tokens))``: :meth:`CaptionerFamily.cross_attention`.
CrossAttentionSink = Callable[[int, torch.Tensor], None]


@dataclass(frozen=True)
class DecoderLayout:
    """What the attention analysis reads of a model: decoder layers and heads, and the image's patch grid side
    (``None``: the family's image tokens are not a square patch grid after one class token)."""

    layers: int
    heads: int
    patch_grid: int | None


class ModelFamily(ABC):
    """What every family answers, captioner or not: its names, its kind and how to load it."""

    #: Short name (``"blip"``): presets name their family by it.
    name: str
    #: The ``config.model_type`` values the family loads (a saved ``config.json`` says which family it is).
    model_types: tuple[str, ...]
    #: ``"captioner"`` (writes pose captions: :class:`CaptionerFamily`) or ``"heatmap"`` (predicts keypoint heatmaps:
    #: :class:`blip_pose.models.vitpose.HeatmapFamily`); a run's set-up branches on it in one place.
    kind: str = "captioner"

    @abstractmethod
    def load(self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any) -> tuple[PreTrainedModel, Any]:
        """Model and processor of a folder or Hub id (``hub``: revision, cache_dir, token)."""


class CaptionerFamily(ModelFamily):
    """One image-captioning architecture (its model and processor classes) as the project uses it."""

    # --- loading and building --------------------------------------------------------------------------------------

    @abstractmethod
    def load(
        self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any
    ) -> tuple[PreTrainedModel, ProcessorMixin]:
        """Model and processor of a folder or Hub id (``hub``: revision, cache_dir, token)."""

    @abstractmethod
    def build_processor(self, vocabulary: Sequence[str], image_size: int, max_length: int) -> ProcessorMixin:
        """A processor whose tokenizer holds exactly ``vocabulary`` (ids in order) for ``image_size`` px images."""

    @abstractmethod
    def build_model(self, preset: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase, seed: int) -> PreTrainedModel:
        """A random-initialised model of a preset's architecture for ``tokenizer`` (seeded right before init)."""

    @abstractmethod
    def vision_positions(self, model: PreTrainedModel) -> torch.Tensor:
        """The vision position embeddings (1, 1 + patches, dim), class token first (the ``positions`` preset code)."""

    # --- training ----------------------------------------------------------------------------------------------------

    def caption_start_token_id(self, config: PretrainedConfig) -> int | None:
        """The first token generation writes when it differs from the tokenizer's first (the collator swaps it in)."""
        return None

    def collator(
        self, processor: ProcessorMixin, config: PretrainedConfig, caption_column: str, image_column: str
    ) -> PoseCaptionCollator:
        """Batches of (image, caption) rows -> the model's inputs, with the family's first-token rule."""
        loc = self.loc_vocabulary(cast("Any", processor).tokenizer)
        return PoseCaptionCollator(processor, self.caption_start_token_id(config), caption_column, image_column, loc)

    def loc_vocabulary(self, tokenizer: PreTrainedTokenizerBase) -> LocVocabulary:
        """The tokens ``loc_text`` captions are written with for this model: the project's added ``<locN>`` (the
        default), or a family's own loc tokens its tokenizer already has (see :class:`LocVocabulary`)."""
        return DEFAULT_LOC_VOCABULARY

    @abstractmethod
    def set_label_smoothing(self, model: PreTrainedModel, value: float) -> None:
        """Set the caption loss's label smoothing where the loss reads it (and in the saved config)."""

    # --- one vision pass for loss and captions ------------------------------------------------------------------------

    @abstractmethod
    def encode_images(self, model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
        """Image embeddings (B, image tokens, dim) the decoder attends to."""

    @abstractmethod
    def caption_loss(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """The model's mean teacher-forced caption loss on these embeddings (as its ``forward`` computes it)."""

    @abstractmethod
    def generate_from_embeds(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        max_new_tokens: int,
        num_beams: int = 1,
        logits_processor: LogitsProcessorList | None = None,
        **generate_kwargs: Any,
    ) -> Any:
        """Captions from image embeddings alone (B, T) ids, start token first, as ``model.generate`` writes them."""

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
        """:meth:`caption_loss` and :meth:`generate_from_embeds` on the same embeddings (a family may share work
        between the two, e.g. the image's cross-attention keys/values)."""
        loss = self.caption_loss(model, image_embeds, input_ids, attention_mask, labels)
        captions = self.generate_from_embeds(
            model, image_embeds, max_new_tokens, num_beams, logits_processor, **generate_kwargs
        )
        return loss, captions

    # --- vocabulary, budget, end --------------------------------------------------------------------------------------

    @abstractmethod
    def resize_embeddings(self, model: PreTrainedModel, size: int, rows: Mapping[int, Sequence[int]]) -> None:
        """Grow the decoder's vocabulary to ``size``; each new row ``id`` (and its output bias) starts as the mean of
        the rows ``rows[id]``."""

    @abstractmethod
    def max_positions(self, config: PretrainedConfig) -> int:
        """The decoder's position budget: start token + caption + end token must fit."""

    @abstractmethod
    def end_token_id(self, config: PretrainedConfig) -> int:
        """The token that ends a caption (generation stops there)."""

    # --- analyses and speed ---------------------------------------------------------------------------------------

    @abstractmethod
    def decoder_layout(self, config: PretrainedConfig) -> DecoderLayout:
        """Decoder layers, heads and the image patch grid (the attention analysis)."""

    @abstractmethod
    def cross_attention(
        self, model: PreTrainedModel, sink: CrossAttentionSink
    ) -> list[torch.utils.hooks.RemovableHandle]:
        """Hooks that hand every decoder layer's cross-attention probabilities to ``sink`` during ``generate``;
        a family without cross-attention raises ``NotImplementedError`` naming itself."""

    @abstractmethod
    def use_sdpa(self, model: PreTrainedModel) -> int:
        """Switch the model's attention to torch's fused SDPA in place; returns how many modules were switched."""


def set_smoothed_loss(model: PreTrainedModel, value: float, *, shifted: bool) -> None:
    """Label smoothing for a model whose own loss has none (PaliGemma, Florence-2).

    ``value`` > 0 sets the model's ``loss_function`` to a smoothed cross-entropy over logits at t against labels at
    t + 1 (``shifted``: a causal LM's loss) or at t (a decoder whose inputs are already shifted), -100 ignored; 0
    gives the model its own loss back. The value goes to ``config.label_smoothing``, so a saved run loads with it
    (:func:`restore_label_smoothing`)."""
    if value:

        def loss(logits: torch.Tensor, labels: torch.Tensor, vocab_size: int, **kwargs: Any) -> torch.Tensor:
            if shifted:
                logits, labels = logits[:, :-1], labels[:, 1:]
            scores = logits.float().reshape(-1, vocab_size)
            targets = labels.reshape(-1).to(logits.device)
            return cross_entropy(scores, targets, ignore_index=IGNORE_INDEX, label_smoothing=value)

        model.loss_function = loss
    elif "_loss_function" in vars(model):
        del model._loss_function
    model.config.label_smoothing = value


def restore_label_smoothing(model: PreTrainedModel, *, shifted: bool) -> None:
    """After loading: the label smoothing a saved run recorded in its config (:func:`set_smoothed_loss`)."""
    value = float(getattr(model.config, "label_smoothing", 0.0) or 0.0)
    if value:
        set_smoothed_loss(model, value, shifted=shifted)
