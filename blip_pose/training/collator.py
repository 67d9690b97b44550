"""Batches of (image, caption) rows -> ``pixel_values``, ``input_ids``, ``attention_mask``, ``labels``.

Two traps live here:

* A model may start every generated caption with a token of its own (BLIP: the decoder BOS ``[DEC]``) while
  ``forward`` takes ``input_ids`` as given and the tokenizer writes another first (BLIP's: ``[CLS]``). Training on
  the tokenizer's would teach a first token that generation never shows the model, so the family's start token
  (:meth:`blip_pose.models.CaptionerFamily.caption_start_token_id`) replaces it; ``None`` keeps the tokenizer's.
* Padding must not be learnt: labels are ``-100`` wherever ``attention_mask`` is 0. The final end token stays a
  label, so the model learns to stop.

``loc_text`` captions are tokenized in the model's loc tokens (:meth:`~blip_pose.pose_parsing.LocVocabulary.encode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers.processing_utils import ProcessorMixin

from blip_pose.pose_parsing import DEFAULT_LOC_VOCABULARY, LocVocabulary

IGNORE_INDEX = -100


@dataclass
class PoseCaptionCollator:
    processor: ProcessorMixin
    decoder_bos_token_id: int | None  # the first token generate() writes, swapped in for the tokenizer's (None: keep)
    caption_column: str = "text"
    image_column: str = "image"
    loc: LocVocabulary = DEFAULT_LOC_VOCABULARY  # the model's loc tokens (the family's)

    def __post_init__(self) -> None:
        if self.decoder_bos_token_id is None:
            return
        tokenizer: Any = self.processor.tokenizer
        first = tokenizer("0")["input_ids"][0]
        if first not in tokenizer.all_special_ids:
            # The BOS replaces the first token; a tokenizer that writes no leading special token would lose a word.
            raise ValueError(
                f"the tokenizer must start captions with a special token (its CLS, id {tokenizer.cls_token_id}), "
                f"got id {first}"
            )

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        processor: Any = self.processor
        captions = self.captions(examples)
        pixel_values = self.pixel_values(examples)
        # No truncation: data.check_captions refused over-long captions before training.
        text = processor.tokenizer(captions, padding="longest", return_tensors="pt")
        input_ids = text["input_ids"].clone()
        if self.decoder_bos_token_id is not None:
            input_ids[:, 0] = self.decoder_bos_token_id
        labels = input_ids.masked_fill(text["attention_mask"] == 0, IGNORE_INDEX)
        return {
            "pixel_values": pixel_values,
            "input_ids": input_ids,
            "attention_mask": text["attention_mask"],
            "labels": labels,
        }

    def captions(self, examples: list[dict[str, Any]]) -> list[str]:
        """The batch's captions as the model writes them (its loc tokens)."""
        return [self.loc.encode(example[self.caption_column]) for example in examples]

    def pixel_values(self, examples: list[dict[str, Any]]) -> torch.Tensor:
        """The batch's images as the model's pixel tensor."""
        if "pixel_values" in examples[0]:  # training.pixel_cache: processed once, ahead of time
            return torch.stack([torch.as_tensor(example["pixel_values"]) for example in examples])
        images = [example[self.image_column].convert("RGB") for example in examples]
        processor: Any = self.processor
        return processor.image_processor(images, return_tensors="pt")["pixel_values"]
