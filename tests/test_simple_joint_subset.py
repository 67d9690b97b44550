"""A non-default simple-joint subset travels from the dataset card to training's grammar, the model's records and
the predictor: a model trained on five-joint ``simple_text`` captions writes those five joints."""

from __future__ import annotations

import json

import pytest
from pose_model_fixtures import SAMPLE_IMAGES
from training_fixtures import ROOT, run

from blip_pose.geometry import Preprocessing
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import parse_coords
from blip_pose.predictor import PosePredictor
from mpii_pose_dataset.cli import main as dataset_main

SUBSET = ("head", "rknee", "lknee", "relb", "lelb")  # the method's notebook subset (README)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subset")
    data = folder / "data"
    build = ["build", "--sample", "--output", str(data), "--num-proc", "1", "--simple-joints", ",".join(SUBSET)]
    assert dataset_main(build) == 0
    out = folder / "run"
    metrics = run.main(
        [
            str(ROOT / "training" / "configs" / "tiny_test.yaml"),
            *("--dataset_name", str(data), "--output_dir", str(out), "--caption_column", "simple_text"),
            *("--max_steps", "2", "--do_eval", "true", "--constrained_decoding", "true"),
        ]
    )
    return out, metrics


def test_training_evaluates_with_the_datasets_subset(trained):
    out, metrics = trained
    assert metrics["eval_parse_rate"] == 1.0  # was 0.0: the grammar let the model write only upper_neck
    assert metrics["eval_missing_joint_rate"] == 0.0
    assert Preprocessing.load(out).simple_joints == SUBSET  # recorded beside the model


def test_the_predictor_writes_the_subset(trained):
    out, _ = trained
    predictor = PosePredictor.from_pretrained(out, device="cpu")
    assert predictor.caption_joints == MPII16.ids(SUBSET)
    pose = predictor(SAMPLE_IMAGES[0])
    assert [MPII16.captions[j] for j in parse_coords(pose.caption).found.nonzero()[0]] == sorted(
        SUBSET, key=MPII16.captions.index
    )
    assert json.loads((out / "run_config.json").read_text())["data"]["caption_column"] == "simple_text"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("head", "must be a list of joint names"), (["nose"], "unknown joint name 'nose'"), ([], "subset is empty")],
)
def test_a_bad_recorded_subset_names_the_file(value, problem, tmp_path):
    (tmp_path / "preprocessing.json").write_text(json.dumps({"mode": "resize", "simple_joints": value}))
    with pytest.raises(ValueError, match=f"^{tmp_path / 'preprocessing.json'}: .*{problem}"):
        Preprocessing.load(tmp_path)


def test_captions_with_joints_outside_the_recorded_subset_are_refused(model_dir):
    from types import SimpleNamespace

    import numpy as np
    from transformers import AutoTokenizer

    from blip_pose.training.trainer import evaluation_grammar

    found = np.zeros((2, 16), bool)
    found[:, MPII16.ids(SUBSET)] = True  # five-joint captions, from a dataset whose card records no subset
    refs = SimpleNamespace(found=found, sizes=np.full((2, 2), 64.0), spec=MPII16)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    args = SimpleNamespace(constrained_decoding=True)
    with pytest.raises(
        ValueError, match=r"simple_text captions hold joints \['rknee', 'lknee', 'head'.*records simple_joints"
    ):
        evaluation_grammar(args, tokenizer, "simple_text", refs, ("upper_neck",))
    assert evaluation_grammar(args, tokenizer, "simple_text", refs, SUBSET) is not None
