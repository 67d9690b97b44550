"""Named offline stand-ins for a pretrained BLIP: random-initialised models with a caption-vocabulary tokenizer.

The Hub (and so ``Salesforce/blip-image-captioning-base``) is out of reach offline. A preset builds a
:class:`~transformers.BlipForConditionalGeneration` from a config and a WordPiece tokenizer whose vocabulary
covers the pose captions (whole numbers 0..999 like BERT's, joint names, punctuation, BLIP's special tokens with
the decoder BOS ``[DEC]``), and saves both like any checkpoint so that every later step loads it with
``from_pretrained``. ``base`` is the real BLIP-base architecture (``BlipConfig()``) with the small vocabulary.
"""

from __future__ import annotations

from pathlib import Path

from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor

try:  # transformers >= 5 names the PIL-only processor separately (no torchvision needed)
    from transformers import BlipImageProcessorPil as _BlipImageProcessor
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import BlipImageProcessor as _BlipImageProcessor

from blip_pose.pose_format import CAPTION_FORMATS, CAPTION_NAMES

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")
#: Longest caption the presets must generate: normalized_text, 16 joints x 9 tokens (name : 0 . 320 , 0 . 927)
#: + BOS/SEP = 146, with margin (pixel captions need 16 x 5 + 2 = 82).
MAX_CAPTION_TOKENS = 192

PRESETS: dict[str, dict] = {
    "tiny": {
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
    },
    "base": {"vision": {}, "text": {}, "projection_dim": 512},
}


def caption_vocabulary() -> list[str]:
    """Token list: specials first (ids fixed), then numbers (every caption number is one token), word pieces,
    names and punctuation."""
    words = {part for name in CAPTION_NAMES for part in name.split("_")}
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


def build_processor(image_size: int) -> BlipProcessor:
    """A BlipProcessor with the caption-vocabulary tokenizer and BLIP's image normalisation."""
    vocab = {token: i for i, token in enumerate(caption_vocabulary())}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, bos_token="[DEC]", model_max_length=MAX_CAPTION_TOKENS)
    image_processor = _BlipImageProcessor(size={"height": image_size, "width": image_size})
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_preset(name: str, seed: int = 0) -> tuple[BlipForConditionalGeneration, BlipProcessor]:
    """A random-initialised BLIP captioner and its processor for the preset ``name`` (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}")
    import torch

    spec = PRESETS[name]
    processor = build_processor(spec["vision"].get("image_size", 384))
    tok = processor.tokenizer
    text = dict(
        spec["text"],
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        sep_token_id=tok.sep_token_id,
        eos_token_id=tok.sep_token_id,
    )
    config = BlipConfig(text_config=text, vision_config=spec["vision"], projection_dim=spec["projection_dim"])
    torch.manual_seed(seed)
    model = BlipForConditionalGeneration(config)
    model.generation_config.max_new_tokens = MAX_CAPTION_TOKENS - 2
    return model, processor


def save_preset(name: str, output_dir: str | Path, seed: int = 0) -> Path:
    """Build the preset and save model (safetensors), processor and generation config to ``output_dir``."""
    model, processor = build_preset(name, seed)
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return output_dir
