"""One image encoding per batch: the caption loss AND the generated captions from the same vision pass.

A captioner's ``forward`` (the loss) and ``generate`` each run the vision encoder, so an evaluation that reports
both encodes every image twice (about 40 % of a BLIP-base evaluation). Here the image embeddings are computed once
and handed to the text decoder twice: teacher-forced for the loss, and to the decoder's generation exactly as the
model's ``generate`` does internally. The model's family (:mod:`blip_pose.models`) knows how; trainer, predictor
and analyses all call :func:`encode_loss_generate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel

from blip_pose.models import family_for_config


@dataclass
class CaptionOutput:
    """``loss``: the model's mean caption loss (None without labels); ``sequences``: (B, T) ids, BOS first."""

    loss: torch.Tensor | None
    sequences: torch.Tensor | None


class NaNScoresError(ValueError):
    """The model's next-token scores hold NaN: it cannot predict (non-finite weights, or an overflow in its dtype)."""


class RefuseNaNScores(LogitsProcessor):
    """Stops generation when the scores hold NaN. Greedy search would otherwise take the first allowed token at
    every step and write a confident caption (under the caption grammar: all 16 joints at (0, 0), marked found).
    Put it first in the list, so it sees the model's own scores."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if torch.isnan(scores).any():
            raise NaNScoresError("the model's next-token scores are NaN; it cannot write a caption")
        return scores


def nonfinite_tensor(model: torch.nn.Module) -> str | None:
    """The name of the first weight or buffer of ``model`` holding NaN or inf (None when all are finite)."""
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def encode_images(model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """Image embeddings (B, image tokens, dim) the decoder attends to (the family's vision pass)."""
    return family_for_config(model.config).encode_images(model, pixel_values)


def caption_loss(
    model: PreTrainedModel,
    image_embeds: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
) -> torch.Tensor:
    """The loss ``model(pixel_values, input_ids, attention_mask, labels).loss`` computes, without the vision pass."""
    return family_for_config(model.config).caption_loss(model, image_embeds, input_ids, attention_mask, labels)


def generate_from_embeds(
    model: PreTrainedModel,
    image_embeds: torch.Tensor,
    max_new_tokens: int,
    num_beams: int = 1,
    logits_processor: LogitsProcessorList | None = None,
    **generate_kwargs: Any,
) -> Any:
    """Captions from image embeddings alone (never a caption prompt), as ``model.generate(pixel_values)`` writes
    them: (B, T) ids, start token first (a ``generate`` output object when ``return_dict_in_generate``).

    The length limit is explicit: a decoder's own ``generate`` need not read the model's saved generation config.
    """
    family = family_for_config(model.config)
    return family.generate_from_embeds(
        model, image_embeds, max_new_tokens, num_beams, logits_processor, **generate_kwargs
    )


@torch.no_grad()
def encode_loss_generate(
    model: PreTrainedModel,
    pixel_values: torch.Tensor,
    *,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    generate: bool = True,
    max_new_tokens: int = 64,
    num_beams: int = 1,
    logits_processor: LogitsProcessorList | None = None,
    **generate_kwargs: Any,
) -> CaptionOutput:
    """Encode ``pixel_values`` once; the teacher-forced loss when ``labels`` are given, captions when ``generate``."""
    family = family_for_config(model.config)
    image_embeds = family.encode_images(model, pixel_values)
    loss = sequences = None
    if labels is not None and input_ids is None:
        raise ValueError("the caption loss needs input_ids with the labels")
    if labels is not None and input_ids is not None and generate:
        loss, sequences = family.loss_and_captions(
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
    elif labels is not None and input_ids is not None:
        loss = family.caption_loss(model, image_embeds, input_ids, attention_mask, labels)
    elif generate:
        sequences = family.generate_from_embeds(
            model, image_embeds, max_new_tokens, num_beams, logits_processor, **generate_kwargs
        )
    return CaptionOutput(loss, sequences)
