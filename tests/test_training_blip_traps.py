"""The BLIP traps of fine-tuning, each shown to be real and handled: BOS, label padding, label smoothing, loss
scaling under gradient accumulation, reference leak into generation, and the Table 3 optimizers."""

from __future__ import annotations

import pytest
import torch
from training_fixtures import make_pose_dataset
from transformers import BlipForConditionalGeneration

from blip_pose.training.arguments import PoseTrainingArguments
from blip_pose.training.collator import IGNORE_INDEX, PoseCaptionCollator
from blip_pose.training.modeling import load_model_and_processor, set_label_smoothing
from blip_pose.training.trainer import PoseCaptionTrainer, optimizer_cls_and_kwargs


def _batch(tiny, rows, column="text"):
    model, processor = load_model_and_processor(str(tiny))
    collator = PoseCaptionCollator(processor, model.config.text_config.bos_token_id, column, "image")
    return model, processor, collator([rows[i] for i in range(len(rows))])


def test_first_token_is_the_bos_that_generate_starts_with(tiny, rows):
    model, processor, batch = _batch(tiny, rows)
    tokenizer = processor.tokenizer
    plain = tokenizer(list(rows["text"]), padding="longest", return_tensors="pt")["input_ids"]
    assert (plain[:, 0] == tokenizer.cls_token_id).all()  # the tokenizer alone would train on [CLS]
    generated = model.generate(pixel_values=batch["pixel_values"], max_new_tokens=3)
    assert (batch["input_ids"][:, 0] == generated[:, 0]).all()
    assert tokenizer.convert_ids_to_tokens(int(batch["input_ids"][0, 0])) == "[DEC]"
    assert torch.equal(batch["input_ids"][:, 1:], plain[:, 1:])  # the rest of the caption is untouched


def test_padding_is_ignored_in_labels_and_sep_is_learnt(tiny, rows):
    model, processor = load_model_and_processor(str(tiny))
    short = make_pose_dataset(n_train=1, n_eval=1, seed=9)["train"][0]
    short["simple_text"] = "head:1,2"  # shorter than the others: forces padding
    collator = PoseCaptionCollator(processor, model.config.text_config.bos_token_id, "simple_text", "image")
    batch = collator([rows[0], short])
    mask = batch["attention_mask"].bool()
    assert (~mask).any()
    assert (batch["labels"][~mask] == IGNORE_INDEX).all()
    assert torch.equal(batch["labels"][mask], batch["input_ids"][mask])
    last = mask.sum(1) - 1
    assert (batch["labels"][torch.arange(2), last] == processor.tokenizer.sep_token_id).all()
    assert batch["pixel_values"].shape == (2, 3, 128, 128)


def test_label_smoothing_reaches_the_loss_and_the_saved_config(tiny, rows, tmp_path):
    model, _, batch = _batch(tiny, rows)
    model.eval()

    def loss_and_reference(smoothing):
        out = model(**batch)
        logits = out.logits[:, :-1].reshape(-1, out.logits.shape[-1])
        ce = torch.nn.functional.cross_entropy(logits, batch["labels"][:, 1:].reshape(-1), label_smoothing=smoothing)
        return out.loss.item(), ce.item()

    assert model.text_decoder.label_smoothing == 0.0
    plain, reference = loss_and_reference(0.0)
    assert plain == pytest.approx(reference, rel=1e-5)
    # Setting only the config after loading does nothing: the decoder copied the value at init.
    model.config.text_config.label_smoothing = 0.1
    assert loss_and_reference(0.0)[0] == pytest.approx(plain, rel=1e-6)
    set_label_smoothing(model, 0.1)
    smoothed, reference = loss_and_reference(0.1)
    assert smoothed == pytest.approx(reference, rel=1e-6)
    assert abs(smoothed - plain) > 1e-5  # small: an untrained model is already close to uniform
    model.save_pretrained(tmp_path)
    assert BlipForConditionalGeneration.from_pretrained(tmp_path).text_decoder.label_smoothing == 0.1
    reloaded, _ = load_model_and_processor(str(tiny), label_smoothing=0.2)
    assert reloaded.text_decoder.label_smoothing == 0.2


def _one_step(tiny, rows, tmp_path, batch_size, accumulation):
    model, processor = load_model_and_processor(str(tiny))
    args = PoseTrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        learning_rate=0.1,
        optim="sgd",
        lr_scheduler_type="constant",
        use_cpu=True,
        report_to="none",
        remove_unused_columns=False,
        save_strategy="no",
        logging_steps=1,
        seed=0,
        max_grad_norm=0.0,
        dataloader_drop_last=False,
    )
    collator = PoseCaptionCollator(processor, model.config.text_config.bos_token_id, "text", "image")
    trainer = PoseCaptionTrainer(
        model=model,
        args=args,
        train_dataset=rows.select_columns(["image", "text"]),
        data_collator=collator,
        optimizer_cls_and_kwargs=optimizer_cls_and_kwargs(args),
        max_new_tokens=4,
    )
    trainer.get_train_dataloader = lambda: torch.utils.data.DataLoader(  # keep row order for the comparison
        trainer.train_dataset, batch_size=batch_size, collate_fn=collator
    )
    trainer.train()
    loss = next(row["loss"] for row in trainer.state.log_history if "loss" in row)
    return loss, torch.cat([p.detach().flatten() for p in model.parameters()])


def test_gradient_accumulation_equals_the_full_batch(tiny, rows, tmp_path):
    """BLIP's loss is a batch mean; the Trainer must divide it by the accumulation steps (same-length captions)."""
    loss_full, params_full = _one_step(tiny, rows, tmp_path / "full", batch_size=4, accumulation=1)
    loss_acc, params_acc = _one_step(tiny, rows, tmp_path / "acc", batch_size=2, accumulation=2)
    assert loss_acc == pytest.approx(loss_full, rel=1e-4)
    initial = torch.cat([p.flatten() for p in load_model_and_processor(str(tiny))[0].parameters()])
    assert (params_full - initial).abs().max() > 1e-4  # the step really changed the weights
    assert torch.allclose(params_acc, params_full, atol=1e-6)


def test_generation_sees_only_the_image(tiny, rows, tmp_path):
    """Seq2SeqTrainer would hand the reference caption to generate(); BLIP then copies it into its output."""
    model, processor, batch = _batch(tiny, rows)
    leaked = model.generate(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"].clone(), max_new_tokens=2)
    assert processor.tokenizer.decode(leaked[0], skip_special_tokens=True).startswith(
        processor.tokenizer.decode(batch["input_ids"][0, 1:-1], skip_special_tokens=True)
    )
    args = PoseTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", predict_with_generate=True)
    trainer = PoseCaptionTrainer(model=model, args=args, max_new_tokens=5)
    loss, generated, labels = trainer.prediction_step(model, batch, prediction_loss_only=False)
    assert generated.shape == (len(rows), 6)  # BOS + max_new_tokens: nothing of the reference prompt
    assert (generated[:, 0] == model.config.text_config.bos_token_id).all()
    assert torch.equal(labels, batch["labels"]) and torch.isfinite(loss)


@pytest.mark.parametrize(
    ("name", "cls"), [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw_torch", torch.optim.AdamW)]
)
def test_table3_optimizers(tiny, tmp_path, name, cls):
    # One flag: transformers' --optim (momentum through --optim_args), plus "adam" for plain Adam.
    model, _ = load_model_and_processor(str(tiny))
    args = PoseTrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", optim=name, learning_rate=3e-4
    )
    if name == "sgd":
        args.optim_args = "momentum=0.9"
    trainer = PoseCaptionTrainer(
        model=model, args=args, max_new_tokens=4, optimizer_cls_and_kwargs=optimizer_cls_and_kwargs(args)
    )
    optimizer = trainer.create_optimizer()
    assert type(optimizer) is cls
    assert optimizer.param_groups[0]["lr"] == 3e-4
    if name == "sgd":
        assert optimizer.param_groups[0]["momentum"] == 0.9
    assert args.to_dict()["optim"] == name  # what the run records
    with pytest.raises(ValueError, match="lamb"):
        PoseTrainingArguments(output_dir=str(tmp_path), optim="lamb")
