"""Named offline stand-ins for a pretrained captioner: random-initialised models with a caption-vocabulary tokenizer.

The Hub (and so ``Salesforce/blip-image-captioning-base``) is out of reach offline. A preset names a model family
(:mod:`blip_pose.models`: BLIP; ``tiny-git`` GIT, ``tiny-ved`` a VisionEncoderDecoder, ``tiny-paligemma``
PaliGemma, ``tiny-florence2`` Florence-2; ``tiny-vitpose`` the heatmap baseline) and its architecture; the family
builds the model from it and a tokenizer whose vocabulary covers the pose captions of a keypoint
set (whole numbers 0..999 like BERT's, the set's caption names, punctuation, the special tokens with the decoder
BOS ``[DEC]``), and both are saved like any checkpoint so that every later step loads them with
``from_pretrained``. ``base`` is the real BLIP-base architecture with the small vocabulary.

Every preset is initialised with std :data:`INITIALIZER_RANGE` (0.02) in both towers: a random vision tower
initialised with BLIP's vision default (1e-10) is all but dead. Names ending in ``-numbers``, ``-positions`` or ``-loc``
(both) also start from codes that make localisation easier to learn from scratch (:data:`CODES`):

* ``numbers``: the embedding rows of the number tokens "0".."999" hold a sine/cosine code of their value (tied
  with the output layer), so neighbouring pixel values start close together;
* ``positions``: the vision position embeddings hold a 2-D sine/cosine code of each patch's row and column
  (MAE-style, amplitude 1, class token 0), so the encoder knows where each patch is from the first step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel
from transformers.processing_utils import ProcessorMixin

from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.models import family_by_name
from blip_pose.pose_format import CAPTION_FORMATS, PIXEL

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")
#: Longest caption the presets must generate: normalized_text, 16 joints x 9 tokens (name : 0 . 320 , 0 . 927)
#: + BOS/SEP = 146, with margin (pixel captions need 16 x 5 + 2 = 82).
MAX_CAPTION_TOKENS = 192
#: Std of the random initialisation of every preset, vision and text (BERT's and BLIP-text's value).
INITIALIZER_RANGE = 0.02
#: Start-up codes a preset may list under ``"codes"`` (see the module docstring).
CODES = ("numbers", "positions")
#: Values coded by the ``numbers`` code: the pixel numbers captions write, each one token of the vocabulary.
NUMBER_TOKENS = tuple(int(word) for word in PIXEL.words)

_TINY: dict = {
    "family": "blip",
    "vision": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=128,
        patch_size=16,
    ),
    "text": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=MAX_CAPTION_TOKENS,
    ),
    "projection_dim": 64,
}
_BASE: dict = {"family": "blip", "vision": {}, "text": {}, "projection_dim": 512}
#: GIT at the tiny scale: its decoder takes the image tokens as a prefix (no cross-attention).
_TINY_GIT: dict = {"family": "git", "vision": _TINY["vision"], "text": _TINY["text"]}
#: A VisionEncoderDecoderModel at the tiny scale: ViT encoder, BERT decoder with cross-attention.
_TINY_VED: dict = {"family": "ved", "vision": _TINY["vision"], "text": _TINY["text"]}
#: PaliGemma at the tiny scale: SigLIP tower, Gemma decoder (one key/value head) reading image tokens + prompt.
_TINY_PALIGEMMA: dict = {
    "family": "paligemma",
    "vision": _TINY["vision"],
    "text": {**_TINY["text"], "num_key_value_heads": 1, "head_dim": 32},
}

#: Florence-2 at the tiny scale: a three-stage DaViT (an 8x8 grid at 128 px), a BART encoder-decoder.
_TINY_FLORENCE2: dict = {
    "family": "florence2",
    "vision": dict(
        image_size=128,
        embed_dim=(32, 48, 64),
        num_heads=(1, 2, 2),
        num_groups=(1, 2, 2),
        depths=(1, 1, 1),
        window_size=4,
    ),
    "text": dict(
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=MAX_CAPTION_TOKENS,
    ),
}

PRESETS: dict[str, dict] = {
    "tiny": _TINY,
    "tiny-numbers": {**_TINY, "codes": ("numbers",)},
    "tiny-positions": {**_TINY, "codes": ("positions",)},
    "tiny-loc": {**_TINY, "codes": CODES},
    "base": _BASE,
    "base-loc": {**_BASE, "codes": CODES},
    "tiny-git": _TINY_GIT,
    "tiny-ved": _TINY_VED,
    "tiny-paligemma": _TINY_PALIGEMMA,
    "tiny-florence2": _TINY_FLORENCE2,
    # The heatmap baseline (issue 25): its family builds it for the dataset's keypoint set (blip_pose.models.vitpose).
    "tiny-vitpose": {"family": "vitpose"},
}


def preset_family(model_name_or_path: str) -> str | None:
    """The family name of a preset (``"tiny"`` or ``"preset:tiny"``); None for anything else (a folder, a Hub id)."""
    if Path(model_name_or_path).is_dir():
        return None
    preset = PRESETS.get(model_name_or_path.removeprefix("preset:"))
    return None if preset is None else str(preset["family"])


def caption_vocabulary(spec: KeypointSpec = DEFAULT_SPEC) -> list[str]:
    """Token list: specials first (ids fixed), then numbers (every caption number is one token), word pieces,
    the caption names of ``spec`` and punctuation."""
    words = {part for name in spec.captions for part in name.split("_")}
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [
        *SPECIAL_TOKENS,
        *(word for fmt in CAPTION_FORMATS for word in fmt.words),
        *(f"##{d}" for d in range(10)),
        *":,.-_",
        *sorted(words),
        *letters,
        *(f"##{c}" for c in letters),
    ]


def build_processor(image_size: int, spec: KeypointSpec = DEFAULT_SPEC, family: str = "blip") -> ProcessorMixin:
    """A processor of ``family`` with the caption-vocabulary tokenizer of ``spec``."""
    return family_by_name(family).build_processor(caption_vocabulary(spec), image_size, MAX_CAPTION_TOKENS)


def build_preset(name: str, seed: int = 0, spec: KeypointSpec = DEFAULT_SPEC) -> tuple[PreTrainedModel, ProcessorMixin]:
    """A random-initialised captioner and its processor for the preset ``name`` (see :data:`PRESETS`), with a
    vocabulary for the captions of ``spec``."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    family = family_by_name(preset["family"])
    processor = build_processor(preset["vision"].get("image_size", 384), spec, preset["family"])
    tok: Any = processor.tokenizer
    model = family.build_model({**preset, "initializer_range": INITIALIZER_RANGE}, tok, seed)
    model.generation_config.max_new_tokens = MAX_CAPTION_TOKENS - 2
    codes = preset.get("codes", ())
    with torch.no_grad():
        if "numbers" in codes:
            rows = tok.convert_tokens_to_ids([str(i) for i in NUMBER_TOKENS])
            emb: Any = model.get_input_embeddings().weight
            code = sincos_code(torch.tensor(list(NUMBER_TOKENS), dtype=torch.float64), emb.shape[1], max_period=1e4)
            emb[rows] = (code * INITIALIZER_RANGE * 2**0.5).to(emb.dtype)  # entries with std ~INITIALIZER_RANGE
        if "positions" in codes:
            pos = family.vision_positions(model)
            grid = math.isqrt(pos.shape[1] - 1)  # patches of a square grid after the class token
            pos[0, 0] = 0.0  # the class token has no place in the image
            pos[0, 1:] = grid_code(grid, pos.shape[-1]).to(pos.dtype)
    return model, processor


def sincos_code(values: torch.Tensor, dim: int, max_period: float) -> torch.Tensor:
    """(N, dim) sine/cosine code of ``values`` (N,): Transformer-style, periods from 2*pi up to ``max_period``."""
    half = dim // 2
    freqs = max_period ** (-torch.arange(half, dtype=torch.float64) / max(half - 1, 1))
    angles = values.to(torch.float64)[:, None] * freqs[None, :]
    code = torch.zeros(len(values), dim, dtype=torch.float64)
    code[:, 0 : 2 * half : 2], code[:, 1 : 2 * half : 2] = torch.sin(angles), torch.cos(angles)
    return code


def grid_code(grid: int, dim: int) -> torch.Tensor:
    """(grid*grid, dim) 2-D code of a row-major patch grid: half the channels code the row, half the column."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    period = 4.0 * grid  # channels turn from 1 rad per patch down to 1/4 rad across the whole grid
    half = dim // 2
    return torch.cat(
        [sincos_code(rows.flatten(), half, period), sincos_code(cols.flatten(), dim - half, period)], dim=1
    )


def save_preset(name: str, output_dir: str | Path, seed: int = 0, spec: KeypointSpec = DEFAULT_SPEC) -> Path:
    """Build the preset for the captions of ``spec`` and save model (safetensors), processor and generation config
    to ``output_dir``."""
    model, processor = build_preset(name, seed, spec)
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return output_dir
