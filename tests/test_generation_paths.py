"""The fast paths: one vision pass per evaluation batch, SDPA attention, the pixel cache, DataLoader workers."""

from __future__ import annotations

import copy

import pytest
import torch

from blip_pose.generation import encode_loss_generate
from blip_pose.presets import build_processor
from blip_pose.sdpa import use_sdpa
from blip_pose.training.arguments import PoseTrainingArguments
from blip_pose.training.collator import PoseCaptionCollator
from blip_pose.training.modeling import load_model_and_processor
from blip_pose.training.pixel_cache import PIXELS, model_inputs, processor_key
from blip_pose.training.trainer import PoseCaptionTrainer, size_dataloader_workers


@pytest.fixture(scope="module")
def loaded(tiny, rows):
    model, processor = load_model_and_processor(str(tiny))
    collator = PoseCaptionCollator(processor, model.config.text_config.bos_token_id, "text", "image")
    batch = collator([rows[i] for i in range(len(rows))])
    batch["attention_mask"][1, -3:] = 0  # a padded row, so the masks matter
    batch["labels"][1, -3:] = -100
    return model.eval(), processor, batch


def count_vision_passes(model):
    calls = []
    handle = model.vision_model.register_forward_hook(lambda *_: calls.append(1))
    return calls, handle


def test_one_vision_pass_gives_the_two_pass_loss_and_captions(loaded):
    model, _, batch = loaded
    with torch.no_grad():
        two_pass_loss = model(**batch).loss
        two_pass_ids = model.generate(pixel_values=batch["pixel_values"], max_new_tokens=10)
    calls, handle = count_vision_passes(model)
    out = encode_loss_generate(
        model,
        batch["pixel_values"],
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=batch["labels"],
        max_new_tokens=10,
    )
    handle.remove()
    assert len(calls) == 1
    assert out.loss is not None and torch.allclose(out.loss, two_pass_loss, atol=1e-6)
    assert torch.equal(out.sequences, two_pass_ids)


def test_trainer_evaluation_step_encodes_each_batch_once_and_reports_the_loss(loaded, tmp_path):
    model, _, batch = loaded
    args = PoseTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", predict_with_generate=True)
    trainer = PoseCaptionTrainer(model=model, args=args, max_new_tokens=6)
    with torch.no_grad():
        reference = model(**batch).loss
    calls, handle = count_vision_passes(model)
    loss, generated, labels = trainer.prediction_step(model, batch, prediction_loss_only=False)
    handle.remove()
    assert len(calls) == 1
    assert torch.allclose(loss, reference, atol=1e-6)
    assert generated.shape == (batch["pixel_values"].shape[0], 7)


def test_sdpa_equals_eager_with_padding_masks_kv_cache_and_gradients(loaded):
    model, _, batch = loaded
    sdpa = copy.deepcopy(model)
    assert use_sdpa(sdpa) == 2 + 2 * 2  # 2 vision layers, 2 text layers x (self, cross)
    with torch.no_grad():
        eager_out, sdpa_out = model(**batch), sdpa(**batch)
        # Greedy decoding reuses the KV cache at every step: equal ids mean equal cached attention.
        eager_ids = model.generate(pixel_values=batch["pixel_values"], max_new_tokens=12)
        sdpa_ids = sdpa.generate(pixel_values=batch["pixel_values"], max_new_tokens=12)
    valid = batch["attention_mask"].bool()
    assert torch.allclose(eager_out.logits[valid], sdpa_out.logits[valid], atol=1e-5)
    assert torch.allclose(eager_out.image_embeds, sdpa_out.image_embeds, atol=1e-5)
    assert torch.allclose(eager_out.loss, sdpa_out.loss, atol=1e-6)
    assert torch.equal(eager_ids, sdpa_ids)
    grads = []
    for m in (model, sdpa):
        m.zero_grad()
        m(**batch).loss.backward()  # eval mode: no dropout, so the gradients must agree
        grads.append(m.vision_model.encoder.layers[0].self_attn.qkv.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_pixel_cache_gives_the_collator_the_same_batch_and_is_keyed_by_the_processor(loaded, rows):
    model, processor, _ = loaded
    collator = PoseCaptionCollator(processor, model.config.text_config.bos_token_id, "text", "image")
    plain = model_inputs(rows, "text", "image", processor.image_processor, pixel_cache=False)
    cached = model_inputs(rows, "text", "image", processor.image_processor, pixel_cache=True)
    assert cached.column_names == ["text", PIXELS]  # no image left to decode
    a, b = collator([plain[i] for i in range(4)]), collator([cached[i] for i in range(4)])
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert torch.allclose(a["pixel_values"], b["pixel_values"])
    other = build_processor(64).image_processor
    assert processor_key(other) != processor_key(processor.image_processor)
    assert model_inputs(rows, "text", "image", other, pixel_cache=True)[0][PIXELS].shape == (3, 64, 64)


def test_dataloader_workers_are_capped_at_the_cores_beside_the_main_process(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0, 1})
    args = PoseTrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, dataloader_num_workers=4, dataloader_persistent_workers=True
    )
    size_dataloader_workers(args)
    assert args.dataloader_num_workers == 1 and args.dataloader_persistent_workers
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0})
    size_dataloader_workers(args)
    assert args.dataloader_num_workers == 0 and not args.dataloader_persistent_workers
