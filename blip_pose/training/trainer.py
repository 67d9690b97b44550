"""A Seq2SeqTrainer for pose captioning: image-only generation at evaluation, the model's own loss, plain Adam.

Traps handled here (the model family, :mod:`blip_pose.models`, answers the architecture's own):

* ``Seq2SeqTrainer.prediction_step`` passes the whole batch to ``generate``; a captioner's ``generate`` (BLIP's)
  then uses ``input_ids`` (the reference caption) as the prompt and evaluation would read the answer. Generation
  here sees only the images, so every caption starts from the decoder's start token like at inference.
* A decoder's own ``generate`` need not read the saved generation config: the length limit is always passed
  explicitly (``max_new_tokens``), within the decoder's positions.
* ``Seq2SeqTrainer.evaluate`` gathers predictions with plain ``gather`` (transformers#27025, made for
  ``num_return_sequences > 1``), which keeps the duplicates DDP pads the last batch with: under 2 processes 5
  images would be scored as 8. With one caption per image ``gather_for_metrics`` is right and is restored.
* ``prediction_step`` would run the vision encoder twice (the loss pass and ``generate``); it encodes each batch
  once and runs the text decoder for the loss and for generation on the same embeddings
  (:func:`blip_pose.generation.encode_loss_generate`), optionally under grammar-constrained decoding.
* The Trainer pickles its arguments into ``training_args.bin``; they are written as JSON instead (no pickle).
* BLIP's ``forward`` takes ``**kwargs``, so the Trainer assumes it normalises its loss by ``num_items_in_batch``
  and skips dividing by the gradient-accumulation steps (and multiplies by the process count); the caption loss is
  a per-batch mean, so that assumption is switched off.
* Under FSDP2 a module's parameters are gathered only around its ``forward``; the one vision pass calls the
  family's submodules, so it runs as a registered forward method of the model (``fsdp_forward``), as the Trainer
  registers ``generate``; decoding steps are synchronised across processes (``synced_gpus``, as the Trainer's own
  generation does under FSDP and ZeRO-3).
* ``--label_smoothing_factor`` would make the Trainer smooth the logits against unshifted labels; the model's loss
  smooths by itself (``load_model_and_processor`` sets it), so the Trainer's smoother is switched off.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.distributed.fsdp import FSDPModule, register_fsdp_forward_method
from transformers import LogitsProcessorList, PreTrainedTokenizerBase, Seq2SeqTrainer, Trainer
from transformers.distributed.fsdp import is_fsdp_managed_module
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from transformers.trainer import TRAINING_ARGS_NAME

from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import encode_loss_generate
from blip_pose.models import family_for_config
from blip_pose.pose_format import DEFAULT_LOC_VOCABULARY, LocVocabulary
from blip_pose.pose_format import caption_column as caption_column_entry
from blip_pose.run_folder import RunFolder
from blip_pose.training.arguments import PLAIN_ADAM, PoseTrainingArguments
from blip_pose.training.data import References

logger = logging.getLogger(__name__)


def optimizer_cls_and_kwargs(args: PoseTrainingArguments) -> tuple[type[torch.optim.Optimizer], dict] | None:
    """torch.optim.Adam for ``--optim adam``; None for the Trainer's own ``--optim`` names."""
    if args.optim != PLAIN_ADAM:
        return None
    return torch.optim.Adam, {
        "lr": args.learning_rate,
        "betas": (args.adam_beta1, args.adam_beta2),
        "eps": args.adam_epsilon,
    }


def size_dataloader_workers(args: PoseTrainingArguments) -> None:
    """Cap ``dataloader_num_workers`` at the cores this process has beside its own (4 workers on 2 cores slowed the
    tiny model down); persistent workers need at least one worker."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = max(cores // max(args.world_size, 1) - 1, 0)
    if args.dataloader_num_workers > limit:
        logger.info("dataloader_num_workers %d -> %d (%d cores)", args.dataloader_num_workers, limit, cores)
        args.dataloader_num_workers = limit
    if args.dataloader_num_workers == 0:
        args.dataloader_persistent_workers = False


def evaluation_grammar(
    args: PoseTrainingArguments,
    tokenizer: PreTrainedTokenizerBase,
    caption_column: str,
    references: References,
    simple_joints: Sequence[str],
    loc: LocVocabulary = DEFAULT_LOC_VOCABULARY,
) -> CaptionGrammar | None:
    """The constrained-decoding grammar of the evaluation captions (None with ``--constrained_decoding false``).

    ``simple_joints``: the dataset's recorded subset (``preprocessing.json`` of the run); the reference captions
    must hold no other joint, or the grammar could never write them and every such joint would score as missing.
    """
    if not args.constrained_decoding:
        return None
    if caption_column_entry(caption_column).simple:
        captions = references.spec.captions
        written = {captions[j] for j in np.flatnonzero(references.found.any(axis=0))}
        extra = sorted(written - set(simple_joints), key=captions.index)
        if extra:
            raise ValueError(
                f"{caption_column} captions hold joints {extra} but the dataset records simple_joints "
                f"{list(simple_joints)}; rebuild the dataset with --simple-joints matching its captions"
            )
    return CaptionGrammar.for_sizes(
        tokenizer, caption_column, references.sizes, tuple(simple_joints), spec=references.spec, loc=loc
    )


def fsdp_forward(model: torch.nn.Module, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(model, ...)``; under FSDP2 run as a forward of ``model`` (its parameters gathered around it, and its
    inputs cast to the mixed-precision dtype): FSDP2 does that only for ``forward`` and methods registered with
    ``register_fsdp_forward_method``, and calling the submodules directly met sharded parameters (``aten.convolution:
    got mixed torch.Tensor and DTensor``)."""
    if not isinstance(model, FSDPModule):
        return lambda *args, **kwargs: fn(model, *args, **kwargs)
    name = f"_fsdp_{fn.__name__}"
    if name not in model.__dict__:
        setattr(model, name, lambda *args, **kwargs: fn(model, *args, **kwargs))
        register_fsdp_forward_method(model, name)
    return getattr(model, name)


class JsonTrainingArgs(Trainer):
    """Saves the training arguments as JSON (``training_args.json``, tokens masked) instead of the Trainer's pickled
    ``training_args.bin``: the project never pickles (every trainer of a run mixes this in)."""

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            folder = RunFolder(str(output_dir or self.args.output_dir))
            (folder.path / TRAINING_ARGS_NAME).unlink(missing_ok=True)
            folder.training_args.write_text(self.args.to_json_string() + "\n")  # tokens are masked


class PoseCaptionTrainer(JsonTrainingArgs, Seq2SeqTrainer):
    args: PoseTrainingArguments

    def __init__(
        self,
        *args: Any,
        max_new_tokens: int,
        grammar: CaptionGrammar | None = None,
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        size_dataloader_workers(self.args)
        self.model_accepts_loss_kwargs = False
        self.label_smoother = None  # the model's own loss smooths (see the module docstring)
        self.max_new_tokens = max_new_tokens
        self.grammar = grammar  # grammar-constrained decoding (None: off)
        # Trainer takes this argument but Seq2SeqTrainer's __init__ does not pass it on.
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs
        self.resumed_at_step = 0

    def generation_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "num_beams": self.args.generation_num_beams or 1,
            # sharded weights: every rank takes part in every decoding step's all-gathers until all are done
            "synced_gpus": is_deepspeed_zero3_enabled() or is_fsdp_managed_module(self.model_wrapped),
        }
        if self.grammar is not None:
            # Room for the longest caption the grammar allows, so it always reaches EOS.
            config = self.accelerator.unwrap_model(self.model).config
            limit = family_for_config(config).max_positions(config) - 1
            kwargs["max_new_tokens"] = min(max(self.max_new_tokens, self.grammar.max_new_tokens), limit)
            kwargs["logits_processor"] = LogitsProcessorList([self.grammar])
        return kwargs

    def evaluation_loop(self, *args: Any, **kwargs: Any):
        self.gather_function = self.accelerator.gather_for_metrics
        return super().evaluation_loop(*args, **kwargs)

    def prediction_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
        **gen_kwargs: Any,
    ) -> tuple[Any, torch.Tensor | None, torch.Tensor | None]:
        if not self.args.predict_with_generate or prediction_loss_only:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        inputs = self._prepare_inputs(inputs)
        kwargs = {**self.generation_kwargs(), **gen_kwargs}
        with torch.no_grad(), self.compute_loss_context_manager():
            out = fsdp_forward(self.accelerator.unwrap_model(model), encode_loss_generate)(
                inputs["pixel_values"],
                # a seq2seq family's collator (ved, florence2) names the caption's inputs as its model does:
                # decoder_* (florence2's input_ids are its encoder's prompt)
                input_ids=inputs["decoder_input_ids"] if "decoder_input_ids" in inputs else inputs["input_ids"],
                attention_mask=inputs.get("decoder_attention_mask", inputs.get("attention_mask")),
                labels=inputs["labels"],
                **kwargs,
            )
        assert out.loss is not None
        return out.loss.detach().mean(), out.sequences, inputs["labels"]

    def _init_training_state(self, max_steps: int, steps_per_epoch: int, epochs: int, *args: Any) -> tuple[int, int]:
        """A run resumed at its last step trains nothing more (the Trainer would run and save one more step when
        ``max_steps`` ends inside an epoch); the end of the run (best model, records, scores) is done again."""
        trained = super()._init_training_state(max_steps, steps_per_epoch, epochs, *args)
        self.resumed_at_step = self.state.global_step
        if 0 < max_steps <= self.state.global_step:
            logger.warning(
                "the resumed run had trained all %d steps: no step more, only its end is run again", max_steps
            )
            return epochs, 0
        return trained

    def _evaluate(self, trial: Any, ignore_keys_for_eval: list[str] | None, skip_scheduler: bool = False) -> dict:
        if self.args.eval_on_start and skip_scheduler and self.resumed_at_step > 0:
            return {}  # eval_on_start in a resumed run: step 0 was scored before the kill, and is in its history
        return super()._evaluate(trial, ignore_keys_for_eval, skip_scheduler)
