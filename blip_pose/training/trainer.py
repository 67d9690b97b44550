"""A Seq2SeqTrainer for BLIP captioning: image-only generation at evaluation, BLIP's own loss, plain Adam.

BLIP traps handled here:

* ``Seq2SeqTrainer.prediction_step`` passes the whole batch to ``generate``; BLIP's ``generate`` then uses
  ``input_ids`` (the reference caption) as the prompt and evaluation would read the answer. Generation here sees
  only ``pixel_values``, so every caption starts from the decoder BOS like at inference.
* ``generate`` forwards to ``text_decoder.generate``, whose generation config is not the saved one: the length
  limit is always passed explicitly (``max_new_tokens``).
* ``Seq2SeqTrainer.evaluate`` gathers predictions with plain ``gather`` (transformers#27025, made for
  ``num_return_sequences > 1``), which keeps the duplicates DDP pads the last batch with: under 2 processes 5
  images would be scored as 8. With one caption per image ``gather_for_metrics`` is right and is restored.
* The Trainer pickles its arguments into ``training_args.bin``; they are written as JSON instead (no pickle).
* BLIP's ``forward`` takes ``**kwargs``, so the Trainer assumes it normalises its loss by ``num_items_in_batch``
  and skips dividing by the gradient-accumulation steps (and multiplies by the process count); BLIP's loss is a
  per-batch mean, so that assumption is switched off.
* ``--label_smoothing_factor`` would make the Trainer smooth BLIP's logits against unshifted labels; BLIP's loss
  smooths by itself (``load_model_and_processor`` sets it), so the Trainer's smoother is switched off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import Seq2SeqTrainer
from transformers.trainer import TRAINING_ARGS_NAME

from blip_pose.run_record import TRAINING_ARGS_FILE
from blip_pose.training.arguments import PLAIN_ADAM, PoseTrainingArguments


def optimizer_cls_and_kwargs(args: PoseTrainingArguments) -> tuple[type[torch.optim.Optimizer], dict] | None:
    """torch.optim.Adam for ``--optim adam``; None for the Trainer's own ``--optim`` names."""
    if args.optim != PLAIN_ADAM:
        return None
    return torch.optim.Adam, {
        "lr": args.learning_rate,
        "betas": (args.adam_beta1, args.adam_beta2),
        "eps": args.adam_epsilon,
    }


class BlipCaptionTrainer(Seq2SeqTrainer):
    args: PoseTrainingArguments

    def __init__(
        self,
        *args: Any,
        max_new_tokens: int,
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False
        self.label_smoother = None  # BLIP's own loss smooths (see the module docstring)
        self.max_new_tokens = max_new_tokens
        # Trainer takes this argument but Seq2SeqTrainer's __init__ does not pass it on.
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs

    def generation_kwargs(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "num_beams": self.args.generation_num_beams or 1}

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
        with torch.no_grad():
            with self.compute_loss_context_manager():
                loss = model(**inputs).loss.detach().mean()
            generated = self.accelerator.unwrap_model(model).generate(
                pixel_values=inputs["pixel_values"], **{**self.generation_kwargs(), **gen_kwargs}
            )
        return loss, generated, inputs["labels"]

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            folder = Path(str(output_dir or self.args.output_dir))
            (folder / TRAINING_ARGS_NAME).unlink(missing_ok=True)
            (folder / TRAINING_ARGS_FILE).write_text(self.args.to_json_string() + "\n")  # tokens are masked
