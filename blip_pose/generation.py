"""One image encoding per batch: BLIP's caption loss AND its generated captions from the same vision pass.

``BlipForConditionalGeneration.forward`` (the loss) and ``.generate`` each run the vision encoder, so an evaluation
that reports both encodes every image twice (about 40 % of a BLIP-base evaluation). Here the image embeddings are
computed once and handed to the text decoder twice: teacher-forced for the loss, and to ``text_decoder.generate``
exactly as ``BlipForConditionalGeneration.generate`` does internally (prompt = the decoder BOS alone, stop at SEP).
Trainer, predictor and analyses all call :func:`encode_loss_generate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import BlipForConditionalGeneration, LogitsProcessor, LogitsProcessorList


@dataclass
class CaptionOutput:
    """``loss``: BLIP's mean caption loss (None without labels); ``sequences``: (B, T) ids, BOS first."""

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


def encode_images(model: BlipForConditionalGeneration, pixel_values: torch.Tensor) -> torch.Tensor:
    """Image embeddings (B, patches + 1, vision hidden size): the vision encoder's last hidden state."""
    return model.vision_model(pixel_values=pixel_values).last_hidden_state


def caption_loss(
    model: BlipForConditionalGeneration,
    image_embeds: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
) -> torch.Tensor:
    """The loss ``model(pixel_values, input_ids, attention_mask, labels).loss`` computes, without the vision pass."""
    out = model.text_decoder(
        input_ids=input_ids,
        attention_mask=attention_mask,
        encoder_hidden_states=image_embeds,
        labels=labels,
        reduction="mean",
    )
    return out.loss


def generate_from_embeds(
    model: BlipForConditionalGeneration,
    image_embeds: torch.Tensor,
    max_new_tokens: int,
    num_beams: int = 1,
    logits_processor: LogitsProcessorList | None = None,
    **generate_kwargs: Any,
) -> torch.Tensor:
    """Captions from image embeddings alone (never a caption prompt), as ``model.generate(pixel_values)`` writes them.

    The length limit is explicit: ``text_decoder.generate`` does not read the model's saved generation config.
    """
    text: Any = model.config.text_config  # a BlipTextConfig (typed as a union of config kinds)
    batch = image_embeds.shape[0]
    prompt = torch.full((batch, 1), text.bos_token_id, dtype=torch.long, device=image_embeds.device)
    image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
    return model.text_decoder.generate(
        input_ids=prompt,
        eos_token_id=text.sep_token_id,
        pad_token_id=text.pad_token_id,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_mask,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        logits_processor=logits_processor,
        **generate_kwargs,
    )


@torch.no_grad()
def encode_loss_generate(
    model: BlipForConditionalGeneration,
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
    image_embeds = encode_images(model, pixel_values)
    loss = None
    if labels is not None:
        if input_ids is None:
            raise ValueError("the caption loss needs input_ids with the labels")
        loss = caption_loss(model, image_embeds, input_ids, attention_mask, labels)
    sequences = None
    if generate:
        sequences = generate_from_embeds(
            model, image_embeds, max_new_tokens, num_beams, logits_processor, **generate_kwargs
        )
    return CaptionOutput(loss, sequences)
