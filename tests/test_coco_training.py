"""Issue 23: a COCO-built dataset trains through ``training/run.py`` with ``--model_name_or_path tiny``: the preset
is built with the dataset's keypoint set's caption words (COCO-17's people and a five-point star set), the run
evaluates with every caption parsed, scored the field's way (COCO keypoint AP/AR, PCK by the person box), and the
predictor writes the set's joints in the original picture's pixels from COCO person boxes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image
from training_fixtures import load_script

from blip_pose.cli import main as blip_pose_cli
from blip_pose.keypoints import KeypointSpec
from blip_pose.keypoints.coco import COCO17
from blip_pose.predictor import PosePredictor
from coco_pose_dataset.cli import main as build
from coco_pose_dataset.synthetic import write_synthetic_coco


@pytest.mark.parametrize("kind, images, first", [("person", 8, "nose"), ("star", 10, "top")])
def test_a_tiny_run_trains_and_evaluates_on_a_coco_built_set(tmp_path, kind, images, first):
    data = tmp_path / kind
    source = write_synthetic_coco(tmp_path / "source", images, seed=4, kind=kind)
    argv = ["build", "--coco-json", str(source), "--images", str(source.parent / "images"), "--output", str(data),
            "--num-proc", "1", "--image-size", "64"]  # fmt: skip
    assert build(argv) == 0
    validation = load_dataset(str(data))["validation"]
    n_eval = validation.num_rows
    out = tmp_path / "run"
    metrics = load_script("run").main(
        ["training/configs/tiny_test.yaml", "--model_name_or_path", "tiny", "--dataset_name", str(data),
         "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4", "--num_overlays", "1"]
    )  # fmt: skip
    assert metrics["eval_parse_rate"] == 1.0 and metrics["eval_num_samples"] == float(n_eval)
    spec = KeypointSpec.load(out)
    assert spec.captions[0] == first and (spec == COCO17) == (kind == "person")
    assert f"eval_pck@5/{first}" in metrics and not any("rankl" in key for key in metrics)
    # the preset's vocabulary holds the set's caption words: no caption word is [UNK]
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    assert {part for token in spec.captions for part in token.split("_")} <= set(vocab)
    assert 0.0 <= metrics["eval_pck_person@0.2"] <= 1.0
    for key in ("eval_coco_AP", "eval_coco_AP50", "eval_coco_AR"):
        assert 0.0 <= metrics[key] <= 1.0 or metrics[key] == -1.0, key
    assert math.isfinite(metrics["eval_mae"])
    assert "synthetic COCO-format pictures" in (out / "README.md").read_text()  # never taken for photos

    # The predictor: a COCO person box crops as the build did, joints come back in the original picture's pixels.
    predictor = PosePredictor.from_pretrained(str(out))
    row = validation[0]
    x, y, w, h = row["person_box"]
    box = (x, y, x + w, y + h)
    original = Image.open(source.parent / "images" / row["image_name"]).convert("RGB")
    assert np.allclose(predictor.transform_for(*original.size, box).box, row["crop_box"], atol=1e-3)
    (pose,) = predictor.predict_images([original], person_boxes=[box])
    assert [j.name for j in pose.joints] == list(spec.captions) and pose.found.all()
    x0, y0, x1, y1 = row["crop_box"]
    assert ((pose.xy >= (x0 - 1, y0 - 1)) & (pose.xy <= (x1 + 1, y1 + 1))).all()  # inside the crop, original px
    # ``python -m blip_pose predict --coco-boxes``: one record per annotated person of the image, with its ids.
    preds = tmp_path / "preds"
    argv = [str(source.parent / "images" / row["image_name"]), "--model", str(out), "--coco-boxes", str(source),
            "--out", str(preds), "--no-overlays"]  # fmt: skip
    assert blip_pose_cli(["predict", *argv]) == 0
    records = [json.loads(line) for line in (preds / "predictions.jsonl").read_text().splitlines()]
    annotated = [a for a in json.loads(source.read_text())["annotations"] if a["image_id"] == row["image_id"]]
    assert [r["annotation_id"] for r in records] == [a["id"] for a in annotated]
    assert all(len(r["joints"]) == spec.num_keypoints for r in records)


def test_a_five_point_run_goes_through_analyze_card_push_and_the_demo(tmp_path, capsys):
    """Issue 23 item 3 for a non-human set: the verbs after training read the set from the run, never MPII's."""
    source = write_synthetic_coco(tmp_path / "source", 10, seed=5, kind="star")
    data, out = tmp_path / "stars", tmp_path / "run"
    argv = ["build", "--coco-json", str(source), "--images", str(source.parent / "images"), "--output", str(data),
            "--num-proc", "1", "--image-size", "64"]  # fmt: skip
    assert build(argv) == 0
    load_script("run").main(
        ["training/configs/tiny_test.yaml", "--model_name_or_path", "tiny", "--dataset_name", str(data),
         "--output_dir", str(out), "--max_steps", "1", "--num_overlays", "1"]
    )  # fmt: skip
    spec = KeypointSpec.load(out)
    assert spec.num_keypoints == 5

    # analyze: panels and the occlusion study run on the star set's joints
    assert blip_pose_cli(["analyze", "panels", str(out), "--images", "2", "--device", "cpu"]) == 0
    panels = sorted((out / "analysis" / "panels").glob("*.png"))
    assert panels and Image.open(panels[0]).size[0] > 0
    assert blip_pose_cli(["analyze", "occlusion", str(out), "--images", "2", "--device", "cpu"]) == 0
    occlusion = json.loads(next((out / "analysis" / "occlusion").glob("*.json")).read_text())
    assert "rankl" not in json.dumps(occlusion) and spec.captions[0] in json.dumps(occlusion)

    # card and push: the card's keypoint table is the star set's, the push carries keypoints.json
    assert blip_pose_cli(["card", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert all(f"`{token}`" in card for token in spec.captions) and "`rankl`" not in card
    capsys.readouterr()
    assert blip_pose_cli(["push", str(out), "--repo-id", "someone/stars", "--dry-run"]) == 0
    assert "keypoints.json" in capsys.readouterr().out

    # the demo's one event: an upload gives five named rows and "5/5"
    from blip_pose.demo_app import DemoHandler

    handler = DemoHandler(PosePredictor.from_pretrained(str(out)), tmp_path / "demo")
    image = source.parent / "images" / sorted(p.name for p in (source.parent / "images").iterdir())[0]
    overlay, rows, caption, record, message = handler({"path": str(image)})
    assert [r[0] for r in rows] == list(spec.captions)
    assert message.startswith(f"{sum(r[3] for r in rows)}/5 joints found") and overlay is not None
