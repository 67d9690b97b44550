"""Issue 23: the evaluate module scores a person-normalised set the field's way: predictions in a crop's frame are
mapped back to the original image and scored by COCOeval, and the AP is the one pycocotools prints when run by
hand on the same ground truth and detections; PCK by the person box beside it."""

from __future__ import annotations

import contextlib
import io

import evaluate
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import blip_pose
from blip_pose.coco_eval import pck_person
from blip_pose.geometry import Preprocessing, person_box_transform
from blip_pose.keypoints.coco import COCO17
from coco_pose_dataset.reader import read_coco_keypoints
from coco_pose_dataset.synthetic import write_synthetic_coco

SIZE = 96


@pytest.fixture(scope="module")
def persons(tmp_path_factory):
    out = tmp_path_factory.mktemp("cocometric")
    read = read_coco_keypoints(write_synthetic_coco(out, 10, seed=5), out / "images")
    return [p for p in read.persons if (p.keypoints[:, 2] > 0).all()]


def _by_hand(persons, pred) -> float:
    """COCOeval's AP, written out as a user would: a ground-truth file and a results list."""
    images = [{"id": i, "width": p.width, "height": p.height} for i, p in {p.image_id: p for p in persons}.items()]
    annotations = [
        {"id": k + 1, "image_id": p.image_id, "category_id": 1, "keypoints": p.keypoints.ravel().tolist(),
         "num_keypoints": 17, "bbox": list(p.bbox), "area": p.area, "iscrowd": 0}
        for k, p in enumerate(persons)
    ]  # fmt: skip
    results = [
        {"image_id": p.image_id, "category_id": 1, "score": 1.0,
         "keypoints": np.column_stack([xy, np.ones(17)]).ravel().tolist()}
        for p, xy in zip(persons, pred)
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), iouType="keypoints")  # COCO's own person sigmas
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def test_the_modules_coco_ap_is_pycocotools_own_on_predictions_mapped_back_from_the_crops(persons):
    assert len(persons) >= 6
    rng = np.random.default_rng(0)
    truth = np.stack([p.keypoints[:, :2] for p in persons])
    pred = truth + rng.normal(0, 1, truth.shape) * np.array([max(p.bbox[2:]) for p in persons])[:, None, None] * 0.05
    pre = Preprocessing("crop", SIZE, 1.25, ("nose",))
    transforms = [
        person_box_transform(pre, p.width, p.height, (p.bbox[0], p.bbox[1], p.bbox[0] + p.bbox[2],
                                                       p.bbox[1] + p.bbox[3]))
        for p in persons
    ]  # fmt: skip
    in_crop = [t.forward(xy) for t, xy in zip(transforms, pred)]
    ref_in_crop = [t.forward(xy) for t, xy in zip(transforms, truth)]
    metric = evaluate.load(blip_pose.metric_path())
    annotations = [
        {"image_id": p.image_id, "bbox": list(p.bbox), "keypoints": p.keypoints.tolist(), "area": p.area}
        for p in persons
    ]
    scores = metric.compute(
        predictions=in_crop,
        references=ref_in_crop,
        keypoints="coco17",
        image_sizes=[(SIZE, SIZE)] * len(persons),
        crop_boxes=[list(t.box) for t in transforms],
        coco_annotations=annotations,
        person_boxes=[[*t.forward(np.reshape([p.bbox[0], p.bbox[1], p.bbox[0] + p.bbox[2], p.bbox[1] + p.bbox[3]],
                                              (2, 2))).ravel()] for t, p in zip(transforms, persons)],
    )  # fmt: skip
    expected = _by_hand(persons, pred)
    assert 0.05 < expected < 0.95  # a score with something to get wrong
    assert scores["coco_AP"] == pytest.approx(expected, abs=1e-9)
    _, pck, _ = pck_person(pred, np.stack([p.keypoints for p in persons]), np.array([p.bbox for p in persons]))
    assert scores["pck_person@0.2"] == pytest.approx(pck, abs=1e-9)  # the crop scales both axes alike
    assert COCO17.sigmas is not None and set(scores) >= {"coco_AR", "coco_AP50", "accuracy@25", "mae"}


def test_coco_annotations_without_sizes_for_crop_boxes_are_refused(persons):
    metric = evaluate.load(blip_pose.metric_path())
    p = persons[0]
    with pytest.raises(ValueError, match="crop_boxes need image_sizes"):
        metric.compute(
            predictions=[p.keypoints[:, :2]],
            references=[p.keypoints[:, :2]],
            keypoints="coco17",
            crop_boxes=[[0, 0, 10, 10]],
            coco_annotations=[{"image_id": 1, "bbox": list(p.bbox), "keypoints": p.keypoints.tolist()}],
        )
    with pytest.raises(ValueError, match=r"coco_annotations\[0\] has no 'bbox'"):
        metric.compute(
            predictions=[p.keypoints[:, :2]],
            references=[p.keypoints[:, :2]],
            keypoints="coco17",
            coco_annotations=[{"image_id": 1, "keypoints": p.keypoints.tolist()}],
        )
