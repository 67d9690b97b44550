"""Bad input stops run.py with a clear error naming what is wrong, before any training step."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Image
from training_fixtures import make_pose_dataset, run

from blip_pose.presets import build_preset
from blip_pose.training.arguments import ConfigError, parse_arguments
from blip_pose.training.data import DataError
from blip_pose.training.modeling import CheckpointError

CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "tiny_test.yaml"


@pytest.fixture(scope="module")
def good_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "good"
    make_pose_dataset(n_train=4, n_eval=2).save_to_disk(str(folder))
    return folder


def _run(tmp_path, *flags):
    output = tmp_path / "out"
    with pytest.raises((ConfigError, DataError, CheckpointError)) as err:
        run.main([str(CONFIG), "--output_dir", str(output), *flags])
    assert not (output / "trainer_state.json").exists()
    assert not list(output.glob("checkpoint-*"))
    return str(err.value)


def test_unknown_config_key_is_named(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG.read_text() + "lerning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'lerning_rate' \(did you mean 'learning_rate'\?\)"):
        parse_arguments([str(config)])
    with pytest.raises(ConfigError, match="unknown command-line arguments: --colour"):
        parse_arguments([str(CONFIG), "--colour", "red"])


def test_flags_override_the_config_file(tmp_path):
    json_config = tmp_path / "c.json"
    json_config.write_text('{"dataset_name": "x", "learning_rate": 0.5, "report_to": ["none"], "do_train": true}')
    model_args, data_args, training_args = parse_arguments([str(json_config), "--learning_rate", "2e-5"])
    assert training_args.learning_rate == 2e-5 and training_args.do_train and data_args.dataset_name == "x"
    _, data_args, training_args = parse_arguments([str(CONFIG), "--caption_column", "simple_text"])
    assert data_args.caption_column == "simple_text" and training_args.max_steps == 4  # the rest from the file
    assert model_args.model_name_or_path == "Salesforce/blip-image-captioning-base"  # the default


def test_missing_caption_column(tmp_path, good_dataset):
    message = _run(tmp_path, "--dataset_name", str(good_dataset), "--caption_column", "caption")
    assert "caption column 'caption' has no joint coordinates to score" in message and "simple_text" in message
    no_loc = tmp_path / "no-loc"
    make_pose_dataset(n_train=4, n_eval=2).remove_columns("loc_text").save_to_disk(str(no_loc))
    message = _run(tmp_path, "--dataset_name", str(no_loc), "--caption_column", "loc_text")
    assert "split 'train' has no column 'loc_text'" in message and "simple_text" in message


def test_visibility_column_has_nothing_to_score(tmp_path, good_dataset):
    message = _run(tmp_path, "--dataset_name", str(good_dataset), "--caption_column", "visibility_text")
    assert "'visibility_text' has no joint coordinates" in message


def test_empty_split(tmp_path, good_dataset):
    folder = tmp_path / "empty"  # the Hub layout: parquet files named by split
    ds = make_pose_dataset(n_train=3, n_eval=2)
    ds["train"].to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    ds["validation"].select([]).to_parquet(str(folder / "data" / "validation-00000-of-00001.parquet"))
    assert "split 'validation' is empty" in _run(tmp_path, "--dataset_name", str(folder))
    message = _run(tmp_path, "--dataset_name", str(good_dataset), "--max_train_samples", "0")
    assert "split 'train' is empty (after max_train_samples=0)" in message


def test_missing_split(tmp_path, good_dataset):
    message = _run(tmp_path, "--dataset_name", str(good_dataset), "--eval_split", "test")
    assert "no split 'test'; splits: train, validation" in message


def test_undecodable_image_is_named(tmp_path):
    ds = make_pose_dataset(n_train=4, n_eval=2)
    raw = ds["train"].cast_column("image", Image(decode=False))

    def truncate_row_2(example, i):
        data = example["image"]["bytes"]
        return {"image": {"bytes": data[:200] if i == 2 else data, "path": None}}

    ds["train"] = raw.map(truncate_row_2, with_indices=True).cast_column("image", Image())
    folder = tmp_path / "corrupt"
    ds.save_to_disk(str(folder))
    message = _run(tmp_path, "--dataset_name", str(folder))
    assert "split 'train', row 2: undecodable image: train002.jpg" in message


def test_caption_longer_than_the_limit(tmp_path, good_dataset):
    message = _run(tmp_path, "--dataset_name", str(good_dataset), "--max_caption_tokens", "20")
    assert "tokens, more than max_caption_tokens=20" in message and "train000.jpg" in message


def test_checkpoint_without_processor(tmp_path, good_dataset):
    model, _ = build_preset("tiny")
    model.save_pretrained(tmp_path / "weights-only")
    weights_only = str(tmp_path / "weights-only")
    message = _run(tmp_path, "--dataset_name", str(good_dataset), "--model_name_or_path", weights_only)
    assert "weights-only has no image processor" in message


def test_unknown_preset_and_label_smoothing_out_of_range(tmp_path, good_dataset):
    assert "unknown preset 'huge'" in _run(tmp_path, "--model_name_or_path", "preset:huge")
    message = _run(tmp_path, "--dataset_name", str(good_dataset), "--label_smoothing_factor", "1.5")
    assert "--label_smoothing_factor must be in [0, 1)" in message
