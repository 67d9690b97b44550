"""The Florence-2 family: ``Florence2ForConditionalGeneration`` + ``Florence2Processor`` (a DaViT vision tower, a
projection, a BART encoder-decoder; ``florence-community/Florence-2-base`` and its fine-tunes, or a preset).

Traps this module answers for the rest of the project:

* The BART encoder reads the image tokens + ``<s>`` + :data:`PROMPT` + ``</s>`` (the processor's layout); the
  caption is the decoder's. :class:`Florence2Collator` writes the encoder's ids (``input_ids``, ``attention_mask``)
  and the caption as a seq2seq family's ``decoder_input_ids`` / ``labels`` (the tokenizer's ``<s> caption </s>``
  one token apart, as :class:`~blip_pose.models.ved.VedCollator`), so ``model(**batch)`` is the Trainer's loss. The
  prompt's ids travel in the config (``caption_prefix_ids``, with ``num_image_tokens``; set when a model is built
  or loaded): encoding images for generation has no tokenizer.
* One vision pass: :meth:`encode_images` runs the tower, scatters the image features into the prompt's embeddings
  and runs the BART encoder once; its last hidden state goes to ``forward`` and to ``generate`` as
  ``encoder_outputs`` (``generate`` skips the encoder and expands them for beams).
* Decoding starts at ``<s>`` (the tokenizer's first caption token), so the caption grammar constrains the first
  generated token. Florence-2's checkpoints start at ``</s>`` and force ``<s>`` (``forced_bos_token_id``), with
  ``no_repeat_ngram_size=3`` (which forbids a caption's repeated ``" 0 ."``): both are switched off at load; a
  checkpoint learns the one-token start when fine-tuned.
* ``loc_text``: Florence-2's tokenizer has its own 1000 ``<loc_0>``..``<loc_999>`` (:data:`FLORENCE2_LOC`), which
  captions use directly (translated from the dataset's spelling at the model's edges); nothing is added.
* Its loss has no label smoothing: a non-zero ``--label_smoothing_factor`` sets the model's ``loss_function`` to
  the same (unshifted) cross-entropy with smoothing (recorded in the config, set again at load).
* The decoder's cross-attention (eager attention) is read by hooks: image columns only, the projector's global
  token first (as a class token), then the patch grid row by row; the prompt's columns are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import (
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2Processor,
    LogitsProcessorList,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import BaseModelOutput
from transformers.processing_utils import ProcessorMixin
from transformers.tokenization_utils_base import AddedToken

try:  # transformers >= 5 names the PIL-only processor separately (no torchvision needed)
    from transformers import CLIPImageProcessorPil as _CLIPImageProcessor
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import CLIPImageProcessor as _CLIPImageProcessor  # type: ignore[assignment]

from blip_pose.models.base import (
    CaptionerFamily,
    CrossAttentionSink,
    DecoderLayout,
    restore_label_smoothing,
    set_smoothed_loss,
)
from blip_pose.models.ved import VedCollator
from blip_pose.pose_parsing import DEFAULT_LOC_VOCABULARY, LocVocabulary
from blip_pose.training.collator import PoseCaptionCollator

#: The task prompt the encoder reads after the image (Florence-2's task-token style; a new task for a checkpoint).
PROMPT = "<POSE>"
#: Florence-2's own loc tokens: 1000 bins over the image side, ``<loc_0>``..``<loc_999>``.
FLORENCE2_LOC = LocVocabulary(1000, "<loc_")
#: The presets' DaViT stages (kernel, stride, padding, pre-norm per stage): 16x down, an 8x8 grid at 128 px.
PRESET_STAGES: dict[str, tuple] = {
    "patch_size": (7, 3, 3),
    "patch_stride": (4, 2, 2),
    "patch_padding": (3, 1, 1),
    "patch_prenorm": (False, True, True),
}
_DOWNSAMPLING = math.prod(PRESET_STAGES["patch_stride"])
#: BART's special tokens, in its id order.
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


@dataclass
class Florence2Collator(VedCollator):
    """A seq2seq batch (see :class:`VedCollator`) plus the encoder's ids: image tokens + ``<s>`` + prompt + ``</s>``."""

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = super().__call__(examples)
        processor: Any = self.processor
        prefix = [processor.image_token_id] * processor.num_image_tokens + _text_prefix(processor.tokenizer)
        input_ids = torch.tensor([prefix] * len(examples))
        return {**batch, "input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


class Florence2Family(CaptionerFamily):
    """Florence-2 captioning with a task prompt (the caption is the answer)."""

    name = "florence2"
    model_types: tuple[str, ...] = ("florence2",)

    # --- loading and building --------------------------------------------------------------------------------------

    def load(
        self, checkpoint: str, *, safetensors_only: bool = False, **hub: Any
    ) -> tuple[Florence2ForConditionalGeneration, Florence2Processor]:
        processor = Florence2Processor.from_pretrained(checkpoint, **hub)
        model = Florence2ForConditionalGeneration.from_pretrained(
            checkpoint, use_safetensors=True if safetensors_only else None, attn_implementation="eager", **hub
        )
        model.config.caption_prefix_ids = _text_prefix(processor.tokenizer)
        model.config.num_image_tokens = int(processor.num_image_tokens)
        model.generation_config.forced_bos_token_id = None  # decoding starts at <s> here (module docstring)
        model.generation_config.no_repeat_ngram_size = 0
        restore_label_smoothing(model, shifted=False)
        return model, processor

    def build_processor(self, vocabulary: Sequence[str], image_size: int, max_length: int) -> Florence2Processor:
        """A WordPiece tokenizer (``tokenizers``) of the caption words with BART's special tokens, ``<s> caption
        </s>``, ``<image>``, the prompt and the 1000 loc tokens; CLIP's normalisation, images resized to the square.
        The project's ``<locN>`` are left out: ``loc_text`` uses Florence-2's own."""
        ours = {*DEFAULT_LOC_VOCABULARY.tokens, *(w for w in vocabulary if w.startswith("["))}
        vocab = {token: i for i, token in enumerate((*_SPECIALS, *(w for w in vocabulary if w not in ours)))}
        backend = Tokenizer(WordPiece(vocab, unk_token="<unk>"))
        backend.normalizer = normalizers.BertNormalizer(lowercase=True)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece()
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])]
        )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            bos_token="<s>",
            eos_token="</s>",
            pad_token="<pad>",
            unk_token="<unk>",
            mask_token="<mask>",
            extra_special_tokens={"image_token": "<image>"},
            model_max_length=max_length,
        )
        tokenizer.add_tokens([AddedToken(t, normalized=False) for t in (PROMPT, *FLORENCE2_LOC.tokens)])
        image_processor: Any = _CLIPImageProcessor(size={"height": image_size, "width": image_size})
        image_processor.do_center_crop = False
        image_processor.image_seq_length = (image_size // _DOWNSAMPLING) ** 2 + 1  # the patch grid + a global token
        return Florence2Processor(image_processor=image_processor, tokenizer=tokenizer)

    def build_model(
        self, preset: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase, seed: int
    ) -> Florence2ForConditionalGeneration:
        """``preset``: ``vision`` (a ``Florence2VisionConfig``'s widths and ``image_size``, stages
        :data:`PRESET_STAGES`) and ``text`` (a ``BartConfig``) entries."""
        std = preset["initializer_range"]
        vision = {k: v for k, v in preset["vision"].items() if k != "image_size"}
        text = dict(preset["text"], init_std=std, vocab_size=len(tokenizer), forced_eos_token_id=None)
        ids = {
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "decoder_start_token_id": tokenizer.bos_token_id,
        }
        config = Florence2Config(
            vision_config=dict(
                vision, **PRESET_STAGES, initializer_range=std, projection_dim=text["d_model"], drop_path_rate=0.0
            ),
            text_config=dict(text, model_type="bart", **ids),
            image_token_id=int(cast("int", tokenizer.convert_tokens_to_ids("<image>"))),
        )
        config.caption_prefix_ids = _text_prefix(tokenizer)
        config.num_image_tokens = (preset["vision"]["image_size"] // _DOWNSAMPLING) ** 2 + 1
        torch.manual_seed(seed)
        model = Florence2ForConditionalGeneration(config)
        model.set_attn_implementation("eager")
        for key, value in ids.items():
            setattr(model.generation_config, key, value)
        return model

    def vision_positions(self, model: PreTrainedModel) -> torch.Tensor:
        raise ValueError("the florence2 family's DaViT tower has no class token: the positions code does not apply")

    # --- training ----------------------------------------------------------------------------------------------------

    def loc_vocabulary(self, tokenizer: PreTrainedTokenizerBase) -> LocVocabulary:
        """Florence-2's ``<loc_N>`` where the tokenizer has them (its checkpoints' and the presets' do)."""
        ids = cast("list[int]", tokenizer.convert_tokens_to_ids(list(FLORENCE2_LOC.tokens)))
        return DEFAULT_LOC_VOCABULARY if tokenizer.unk_token_id in ids or None in ids else FLORENCE2_LOC

    def collator(
        self, processor: ProcessorMixin, config: PretrainedConfig, caption_column: str, image_column: str
    ) -> PoseCaptionCollator:
        loc = self.loc_vocabulary(cast("Any", processor).tokenizer)
        return Florence2Collator(processor, None, caption_column, image_column, loc)

    def set_label_smoothing(self, model: PreTrainedModel, value: float) -> None:
        set_smoothed_loss(_florence(model), value, shifted=False)

    # --- one vision pass ---------------------------------------------------------------------------------------------

    def encode_images(self, model: PreTrainedModel, pixel_values: torch.Tensor) -> torch.Tensor:
        """The BART encoder's last hidden state over image tokens + prompt (B, image tokens + prompt, d_model)."""
        florence = _florence(model)
        config: Any = florence.config
        features = florence.model.get_image_features(pixel_values).pooler_output
        prompt = torch.tensor(config.caption_prefix_ids, device=features.device)
        text = florence.get_input_embeddings()(prompt.expand(features.shape[0], -1)).to(features.dtype)
        embeds = torch.cat([features, text], dim=1)  # image tokens first, as the processor places them
        return florence.model.language_model.encoder(inputs_embeds=embeds).last_hidden_state

    def caption_loss(
        self,
        model: PreTrainedModel,
        image_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """``model(pixel_values, input_ids, decoder_input_ids, decoder_attention_mask, labels).loss`` on the encoded
        images (``input_ids``, ``attention_mask``: the collator's decoder inputs)."""
        out = _florence(model)(
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
        florence = _florence(model)
        text: Any = florence.config.text_config
        return florence.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=image_embeds),
            decoder_start_token_id=text.bos_token_id,
            eos_token_id=text.eos_token_id,
            pad_token_id=text.pad_token_id,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            logits_processor=logits_processor,
            **generate_kwargs,
        )

    # --- vocabulary, budget, end --------------------------------------------------------------------------------------

    def resize_embeddings(self, model: PreTrainedModel, size: int, rows: Mapping[int, Sequence[int]]) -> None:
        florence = _florence(model)
        florence.resize_token_embeddings(size, mean_resizing=False)
        embeddings: Any = florence.get_input_embeddings().weight
        output: Any = florence.get_output_embeddings().weight
        with torch.no_grad():
            for token_id, pieces in rows.items():
                embeddings[token_id] = embeddings[list(pieces)].mean(dim=0)
                if output is not embeddings:
                    output[token_id] = output[list(pieces)].mean(dim=0)
        text: Any = florence.config.text_config
        text.vocab_size = size

    def max_positions(self, config: PretrainedConfig) -> int:
        return int(_cfg(config).text_config.max_position_embeddings)

    def end_token_id(self, config: PretrainedConfig) -> int:
        return int(_cfg(config).text_config.eos_token_id)

    # --- analyses and speed ---------------------------------------------------------------------------------------

    def decoder_layout(self, config: PretrainedConfig) -> DecoderLayout:
        """The BART decoder's layers and heads; the patch grid side from the image tokens (grid + a global token)."""
        cfg = _cfg(config)
        grid = math.isqrt(cfg.num_image_tokens - 1)
        side = grid if grid * grid == cfg.num_image_tokens - 1 else None
        return DecoderLayout(cfg.text_config.decoder_layers, cfg.text_config.decoder_attention_heads, side)

    def cross_attention(
        self, model: PreTrainedModel, sink: CrossAttentionSink
    ) -> list[torch.utils.hooks.RemovableHandle]:
        """Hooks on each decoder layer's ``encoder_attn``: the image columns, global token first (module docstring)."""
        florence = _florence(model)
        n = int(_cfg(florence.config).num_image_tokens)
        order = [n - 1, *range(n - 1)]
        layers: Any = florence.model.language_model.decoder.layers

        def hook(k: int) -> Callable[..., None]:
            def read(module: torch.nn.Module, inputs: Any, out: tuple[torch.Tensor, torch.Tensor]) -> None:
                sink(k, out[1][..., order])  # returns nothing: the module's output stays as it is

            return read

        return [layer.encoder_attn.register_forward_hook(hook(k)) for k, layer in enumerate(layers)]

    def use_sdpa(self, model: PreTrainedModel) -> int:
        _florence(model).set_attn_implementation("sdpa")
        return sum(1 for m in model.modules() if type(m).__name__.endswith("Attention"))


def _florence(model: PreTrainedModel) -> Florence2ForConditionalGeneration:
    if not isinstance(model, Florence2ForConditionalGeneration):
        name = type(model).__name__
        raise TypeError(f"the florence2 family runs Florence2ForConditionalGeneration models, got {name}")
    return model


def _cfg(config: PretrainedConfig) -> Any:
    return config


def _text_prefix(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """``<s>`` + the prompt + ``</s>`` as ids: what follows the image tokens in the encoder."""
    prompt = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    return [int(tokenizer.bos_token_id), *prompt, int(tokenizer.eos_token_id)]


#: The registered Florence-2 family (:mod:`blip_pose.models` registers it).
FAMILY = Florence2Family()
