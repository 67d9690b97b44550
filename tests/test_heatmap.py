"""The heatmap baseline: mmpose's targets and loss, the crop/decode geometry of transformers' VitPose processor, the
flip test, and a tiny random-init VitPose that learns on synthetic dots."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import TrainingArguments, set_seed
from transformers.models.vitpose.modeling_vitpose import flip_back as transformers_flip_back

from blip_pose.heatmap.targets import HEATMAP_SIZE, INPUT_SIZE, gaussian_targets, heatmap_loss, input_to_heatmap
from blip_pose.heatmap.tiny import tiny_vitpose, tiny_vitpose_config, vitpose_processor
from blip_pose.heatmap.trainer import HeatmapCollator, HeatmapTrainer, decode, flip_back, input_warp
from blip_pose.keypoints import DEFAULT_SPEC

K = DEFAULT_SPEC.num_keypoints


def test_udp_geometry_lines_up_first_and_last_pixels():
    corners = np.array([[0.0, 0.0], [INPUT_SIZE[1] - 1, INPUT_SIZE[0] - 1]])
    np.testing.assert_allclose(input_to_heatmap(corners), [[0, 0], [HEATMAP_SIZE[1] - 1, HEATMAP_SIZE[0] - 1]])


def test_gaussian_targets_peak_value_window_and_weights():
    keypoints = np.array([[[95.5, 127.5], [191.0, 255.0], [400.0, 10.0], [10.0, 10.0], [np.nan, 3.0]]])
    visible = np.array([[1, 1, 1, 0, 1]])
    heatmaps, weights = gaussian_targets(keypoints, visible)
    assert heatmaps.shape == (1, 5, 64, 48) and heatmaps.dtype == np.float32
    np.testing.assert_array_equal(weights, [[1, 1, 0, 0, 0]])  # far outside, unlabelled, NaN: weight 0
    assert not heatmaps[0, 2:].any()
    # the last pixel: peak exactly 1 at (47, 63)
    assert heatmaps[0, 1, 63, 47] == pytest.approx(1.0)
    # sub-pixel centre (23.5, 31.5) in heatmap pixels: four equal neighbours at exp(-0.5 / (2 * 4))
    mu = input_to_heatmap(keypoints[0, 0])
    np.testing.assert_allclose(mu, [23.5, 31.5])
    expected = np.exp(-(0.5**2 + 0.5**2) / 8)
    np.testing.assert_allclose(heatmaps[0, 0, 31:33, 23:25], expected, rtol=1e-6)
    # cut to the 3-sigma window around the nearest pixel (24, 32): 6 px away is in, 7 px is out
    assert heatmaps[0, 0, 32, 30] > 0 and heatmaps[0, 0, 32, 31] == 0 and heatmaps[0, 0, 32, 17] == 0
    assert heatmaps[0, 0, 32, 18] > 0


def test_a_keypoint_just_outside_keeps_its_tail_as_mmpose():
    heatmaps, weights = gaussian_targets(np.array([[[-8.0, 100.0]]]), np.ones((1, 1)))
    assert weights[0, 0] == 1 and heatmaps[0, 0, :, 0].max() > 0


def test_heatmap_loss_is_mmpose_weighted_mean():
    pred, target = torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 4, 5)
    pred[0, 0] = 1.0  # weighted: 20 squared errors of 1
    pred[1, 2] = 3.0  # weight 0: ignored
    weight = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    assert heatmap_loss(pred, target, weight).item() == pytest.approx(20 / (2 * 3 * 4 * 5))
    with pytest.raises(ValueError, match="do not match"):
        heatmap_loss(pred, target, weight[:, :2])


def test_flip_back_mirrors_swaps_and_optionally_shifts():
    heatmaps = torch.rand(2, K, 64, 48)
    pairs = torch.tensor(DEFAULT_SPEC.flip_pairs)
    torch.testing.assert_close(flip_back(heatmaps, DEFAULT_SPEC.flip_index), transformers_flip_back(heatmaps, pairs))
    shifted = flip_back(heatmaps, DEFAULT_SPEC.flip_index, shift=True)
    plain = flip_back(heatmaps, DEFAULT_SPEC.flip_index)
    torch.testing.assert_close(shifted[..., 1:], plain[..., :-1])
    torch.testing.assert_close(shifted[..., 0], plain[..., 0])
    # right ankle (0) of the flipped input is the left ankle (5) of the original, mirrored
    torch.testing.assert_close(plain[:, 0], heatmaps[:, 5].flip(-1))


def test_udp_targets_of_a_mirrored_input_flip_back_exactly_without_shift():
    rng = np.random.default_rng(3)
    keypoints = rng.uniform([0, 0], [INPUT_SIZE[1] - 1, INPUT_SIZE[0] - 1], size=(3, K, 2))
    index = DEFAULT_SPEC.flip_index
    mirrored = keypoints[:, index] * [-1, 1] + [INPUT_SIZE[1] - 1, 0]
    targets, weights = gaussian_targets(keypoints, np.ones((3, K)))
    mirrored_targets, mirrored_weights = gaussian_targets(mirrored, np.ones((3, K)))
    back = flip_back(torch.from_numpy(mirrored_targets), index).numpy()
    np.testing.assert_allclose(back, targets, atol=1e-6)
    np.testing.assert_array_equal(mirrored_weights[:, index], weights)
    shifted = flip_back(torch.from_numpy(mirrored_targets), index, shift=True).numpy()
    assert np.abs(shifted - targets).max() > 0.1  # MSRA's shift would move UDP targets a pixel off


def _dots(n: int, seed: int = 0) -> list[dict]:
    """Persons on a dark image: K bright dots (keypoint k at a fixed place plus jitter) inside a known box."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([20, 20], [140, 220], size=(K, 2))
    examples = []
    for i in range(n):
        image = np.zeros((300, 260, 3), dtype=np.uint8)
        offset = rng.uniform(0, 30, size=2)
        keypoints = base + offset + rng.normal(0, 2, size=(K, 2))
        visibility = np.ones(K)
        visibility[i % K] = 0  # one unlabelled joint per person
        for k, (x, y) in enumerate(keypoints):
            image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = 40 + 13 * k
        keypoints[i % K] = np.nan
        examples.append(
            {"image": image, "box": [10.0, 10.0, 190.0, 260.0], "keypoints": keypoints, "visibility": visibility}
        )
    return examples


def test_collator_targets_follow_the_processor_crop():
    processor = vitpose_processor()
    examples = _dots(2)
    batch = HeatmapCollator(processor)(examples)
    assert batch["pixel_values"].shape == (2, 3, 256, 192)
    assert batch["target_heatmaps"].shape == (2, K, 64, 48) and batch["target_weights"].shape == (2, K)
    assert batch["target_weights"][0, 0] == 0 and batch["target_weights"][1, 1] == 0
    # the warp is the processor's: a keypoint's dot is bright where the warp puts it in the input
    warp = input_warp(batch["boxes"].numpy(), processor)
    x, y = warp[0] @ np.array([*examples[0]["keypoints"][3], 1.0])
    pixel = batch["pixel_values"][0, :, int(round(y)), int(round(x))]
    assert (pixel > batch["pixel_values"][0, :, 5, 5]).all()
    # and decoding the targets themselves gives back the keypoints in original pixels
    keypoints, scores = decode(processor, batch["target_heatmaps"], batch["boxes"])
    assert keypoints.shape == (2, K, 2) and scores.shape == (2, K)
    labelled = batch["target_weights"].numpy() > 0
    np.testing.assert_allclose(keypoints[labelled], batch["keypoints"][..., :2].numpy()[labelled], atol=1.0)


def test_tiny_config_follows_the_keypoint_set():
    config = tiny_vitpose_config()
    assert config.num_labels == K and config.id2label[9] == "head" and config.use_simple_decoder
    assert config.backbone_config.hidden_size == 64 and config.backbone_config.num_hidden_layers == 2


def test_tiny_vitpose_trains_and_decodes(tmp_path):
    set_seed(0)
    model, processor = tiny_vitpose(), vitpose_processor()
    train = _dots(16)
    collator = HeatmapCollator(processor)
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, per_device_eval_batch_size=4, max_steps=16,
        learning_rate=5e-3, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True,
        dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    trainer = HeatmapTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=train[:4], data_collator=collator,
        processor=processor, flip_test=True,
    )  # fmt: skip
    before = trainer.predict(train[:4])
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    output = trainer.predict(train[:4])
    assert output.metrics["test_loss"] < before.metrics["test_loss"]
    predictions, labels = output.predictions, output.label_ids
    assert predictions.shape == (4, K, 3) and np.isfinite(predictions).all()  # x, y in original pixels, score
    assert labels.shape == (4, K, 3)  # reference x, y (original pixels) and visibility
    np.testing.assert_allclose(labels[..., :2], np.stack([ex["keypoints"] for ex in train[:4]]), rtol=1e-6)
    # original pixels: inside the crop (box 10..200 x 10..270, made 3:4 and padded x1.25: 243.75 x 325 around
    # (105, 140)), give or take the DARK refinement's step at the border
    low, high = np.array([105 - 121.875, 140 - 162.5]), np.array([105 + 121.875, 140 + 162.5])
    margin = 0.1 * (high - low)
    assert ((predictions[..., :2] > low - margin) & (predictions[..., :2] < high + margin)).all()
