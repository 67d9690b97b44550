"""COCO keypoint AP equals pycocotools' own ``COCOeval`` on the same files; PCK by the person box, by hand."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from blip_pose.coco_eval import COCO_STAT_NAMES, coco_keypoint_ap, pck_person, prediction_results
from blip_pose.keypoints.coco import COCO17
from coco_pose_dataset.reader import read_coco_keypoints
from coco_pose_dataset.synthetic import write_synthetic_coco


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    out = tmp_path_factory.mktemp("coco")
    path = write_synthetic_coco(out, 30, seed=5)
    return path, read_coco_keypoints(path, out / "images")


@pytest.fixture(scope="module")
def stars(tmp_path_factory):
    out = tmp_path_factory.mktemp("stars")
    path = write_synthetic_coco(out, 30, seed=5, kind="star")
    return path, read_coco_keypoints(path, out / "images")


def _perturbed(persons, pixels: float, seed: int = 0) -> np.ndarray:
    """(N, K, 2): the ground truth moved by Gaussian noise; unlabelled keypoints guessed at the box centre."""
    rng = np.random.default_rng(seed)
    xy = np.stack([p.keypoints[:, :2] for p in persons])
    centres = np.array([[x + w / 2, y + h / 2] for x, y, w, h in (p.bbox for p in persons)])
    xy = np.where(np.isnan(xy), centres[:, None, :], xy)
    return xy + rng.normal(0, pixels, xy.shape)


def _cocoeval_by_hand(gt_json, pred: np.ndarray, persons, scores, sigmas, tmp_path) -> np.ndarray:
    """The field's own run: results JSON written by hand, COCO(gt file), loadRes(results file), COCOeval."""
    results = [
        {
            "image_id": p.image_id,
            "category_id": json.loads(gt_json.read_text())["categories"][0]["id"],
            "keypoints": [float(v) for x, y in xy for v in (x, y, 1.0)],
            "score": float(s),
        }
        for p, xy, s in zip(persons, pred, scores)
    ]
    results_json = tmp_path / "results.json"
    results_json.write_text(json.dumps(results))
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(gt_json))
        evaluation = COCOeval(truth, truth.loadRes(str(results_json)), iouType="keypoints")
        evaluation.params.kpt_oks_sigmas = np.asarray(sigmas)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


@pytest.mark.parametrize("pixels", [2.0, 6.0])
def test_ap_equals_cocoeval_run_by_hand_on_the_written_files(people, tmp_path, pixels):
    gt_json, data = people
    pred = _perturbed(data.persons, pixels)
    scores = np.random.default_rng(1).uniform(0.2, 1.0, len(pred))
    ours = coco_keypoint_ap(pred, data.persons, "coco17", scores=scores)
    by_hand = _cocoeval_by_hand(gt_json, pred, data.persons, scores, COCO17.sigmas, tmp_path)
    assert list(ours) == list(COCO_STAT_NAMES)
    np.testing.assert_allclose([ours[k] for k in COCO_STAT_NAMES], by_hand, rtol=0, atol=1e-12)
    assert 0 < ours["AP"] < 1


def test_ap_of_your_own_set_uses_its_sigmas(stars, tmp_path):
    gt_json, data = stars
    pred = _perturbed(data.persons, 4.0)
    ones = np.ones(len(pred))
    ours = coco_keypoint_ap(pred, data.persons, data.spec)
    by_hand = _cocoeval_by_hand(gt_json, pred, data.persons, ones, data.spec.sigmas, tmp_path)
    np.testing.assert_allclose([ours[k] for k in COCO_STAT_NAMES], by_hand, rtol=0, atol=1e-12)
    lenient = replace(data.spec, sigmas=tuple(4 * s for s in data.spec.sigmas))
    assert coco_keypoint_ap(pred, data.persons, lenient)["AP"] > ours["AP"]


def test_perfect_predictions_score_one_and_noise_scores_lower(people):
    _, data = people
    perfect = coco_keypoint_ap(_perturbed(data.persons, 0.0), data.persons)
    assert all(perfect[k] == 1.0 for k in ("AP", "AP50", "AP75", "AR"))
    aps = [coco_keypoint_ap(_perturbed(data.persons, px), data.persons)["AP"] for px in (1.0, 4.0, 12.0)]
    assert 1.0 > aps[0] > aps[1] > aps[2] > 0


def test_a_missing_keypoint_is_a_miss(people):
    _, data = people
    pred = _perturbed(data.persons, 0.0)
    labelled = np.stack([p.keypoints[:, 2] > 0 for p in data.persons])
    pred[labelled] = np.where(np.arange(labelled.sum())[:, None] % 3 == 0, np.nan, pred[labelled])
    assert coco_keypoint_ap(pred, data.persons)["AR"] < 1.0
    results = prediction_results(pred, data.persons)
    assert all(np.isfinite(r["keypoints"]).all() for r in results)


def test_bad_arguments_are_refused(people, stars):
    _, data = people
    pred = _perturbed(data.persons, 0.0)
    with pytest.raises(ValueError, match=r"predictions must be \(N, 5, 2 or 3\) for 'star'"):
        coco_keypoint_ap(pred, stars[1].persons, stars[1].spec)
    with pytest.raises(ValueError, match="predictions must be"):
        coco_keypoint_ap(pred[:-1], data.persons)
    with pytest.raises(ValueError, match="no OKS sigmas"):
        coco_keypoint_ap(pred, data.persons, replace(COCO17, sigmas=None))
    with pytest.raises(ValueError, match="scores must be"):
        coco_keypoint_ap(pred, data.persons, scores=np.ones(3))


def test_pck_by_hand():
    """Two persons, three keypoints. Box sizes max(w, h): 100 and 50, so 0.2 x size = 20 px and 10 px."""
    ref = np.array(
        [
            [[10, 10, 2], [50, 50, 1], [0, 0, 0]],
            [[10, 10, 2], [20, 20, 2], [30, 30, 2]],
        ],
        dtype=float,
    )
    ref[0, 2, :2] = np.nan  # unlabelled: never scored, whatever is predicted there
    boxes = np.array([[0, 0, 100, 40], [0, 0, 30, 50]], dtype=float)
    pred = ref[..., :2].copy()
    pred[0, 0] += (12, 16)  # error 20 = 0.2 x 100: not below the threshold, a miss
    pred[0, 1] += (0, 19)  # 19 < 20: correct
    pred[0, 2] = (999, 999)
    pred[1, 0] += (6, 8)  # 10 = 0.2 x 50: a miss
    pred[1, 1] += (0, 9)  # correct
    pred[1, 2] = np.nan  # not predicted: a miss
    acc, avg, cnt = pck_person(pred, ref, boxes, threshold=0.2)
    np.testing.assert_allclose(acc, [0.0, 1.0, 0.0])
    assert avg == pytest.approx(1 / 3) and cnt == 3
    acc, avg, cnt = pck_person(pred, ref, boxes, threshold=0.5)
    np.testing.assert_allclose(acc, [1.0, 1.0, 0.0])
    acc, avg, cnt = pck_person(pred[:1], ref[:1], boxes[:1])
    assert np.isnan(acc[2]) and cnt == 2 and avg == pytest.approx(0.5)


def test_pck_refuses_bad_shapes_and_empty_boxes():
    ref = np.zeros((1, 2, 3))
    with pytest.raises(ValueError, match="expected pred"):
        pck_person(np.zeros((1, 3, 2)), ref, np.ones((1, 4)))
    with pytest.raises(ValueError, match="positive width or height"):
        pck_person(np.zeros((1, 2, 2)), ref, np.zeros((1, 4)))
