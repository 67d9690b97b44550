"""Batches of (image, caption) rows -> BLIP's ``pixel_values``, ``input_ids``, ``attention_mask``, ``labels``.

Two BLIP traps live here:

* ``BlipForConditionalGeneration.generate`` starts every caption with the decoder BOS (``[DEC]``,
  ``text_config.bos_token_id``) while ``forward`` takes ``input_ids`` as given and the tokenizer writes
  ``[CLS]`` first. Training on ``[CLS]`` would teach a first token that generation never shows the model, so the
  first token is replaced by the BOS generation uses.
* Padding must not be learnt: labels are ``-100`` wherever ``attention_mask`` is 0. The final ``[SEP]`` stays a
  label, so the model learns to stop (``generate`` stops at ``sep_token_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import BlipProcessor

IGNORE_INDEX = -100


@dataclass
class PoseCaptionCollator:
    processor: BlipProcessor
    decoder_bos_token_id: int  # model.config.text_config.bos_token_id: the first token generate() uses
    caption_column: str = "text"
    image_column: str = "image"

    def __post_init__(self) -> None:
        tokenizer = self.processor.tokenizer
        first = tokenizer("0")["input_ids"][0]
        if first != tokenizer.cls_token_id:
            # The BOS replaces the first token; a tokenizer that writes no leading special token would lose a word.
            raise ValueError(
                f"the tokenizer must start captions with its CLS token (id {tokenizer.cls_token_id}), got id {first}"
            )

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        captions = [example[self.caption_column] for example in examples]
        if "pixel_values" in examples[0]:  # training.pixel_cache: processed once, ahead of time
            pixel_values = torch.stack([torch.as_tensor(example["pixel_values"]) for example in examples])
        else:
            images = [example[self.image_column].convert("RGB") for example in examples]
            pixel_values = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
        # No truncation: data.check_captions refused over-long captions before training.
        text = self.processor.tokenizer(captions, padding="longest", return_tensors="pt")
        input_ids = text["input_ids"].clone()
        input_ids[:, 0] = self.decoder_bos_token_id
        labels = input_ids.masked_fill(text["attention_mask"] == 0, IGNORE_INDEX)
        return {
            "pixel_values": pixel_values,
            "input_ids": input_ids,
            "attention_mask": text["attention_mask"],
            "labels": labels,
        }
