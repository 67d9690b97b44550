"""Finite but huge coordinates never give an infinite or overflowed score: beyond MAX_COORDINATE a predicted joint
counts as missing and a reference joint is refused by name (the same bound the caption parsers keep)."""

import math
import warnings
from pathlib import Path

import evaluate
import numpy as np
import pytest

from blip_pose.pose_format import MAX_COORDINATE, render_coords
from blip_pose.pose_metrics import pose_scores

METRIC_DIR = Path(__file__).resolve().parents[1] / "metrics" / "pose_threshold_accuracy"
REFERENCE = np.arange(32, dtype=np.float64).reshape(16, 2) + 50


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR), keep_in_memory=True)


@pytest.mark.parametrize("huge", [[1e200, 1e200], [1.7e308, -1.7e308], [-1.7e308, 3.0], [MAX_COORDINATE, 0.0]])
def test_huge_predicted_coordinates_count_as_missing(metric, huge):
    prediction = REFERENCE.copy()
    prediction[3] = huge
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning fails the test
        scores = metric.compute(predictions=[prediction.tolist()], references=[REFERENCE.tolist()])
    assert all(math.isfinite(v) for v in scores.values() if not math.isnan(v))
    assert scores["mae"] == 0.0  # the 15 other joints are exact; the huge one is not an error of 1e200 px
    assert scores["missing_joint_rate"] == pytest.approx(1 / 16)
    assert scores["parse_rate"] == 0.0 and scores["pck@5/lhip"] == 0.0


def test_huge_reference_coordinates_are_refused_by_name(metric):
    reference = REFERENCE.copy()
    reference[5] = [1e200, 0.0]
    with pytest.raises(ValueError, match=r"references\[0\] joint 5 .*within"):
        metric.compute(predictions=[REFERENCE.tolist()], references=[reference.tolist()])


def test_huge_image_sizes_with_normalized_captions_do_not_overflow():
    from blip_pose.pose_metrics import parse_captions

    caption = "rankl:0.500,0.500 rknee:0.100,0.100"
    xy, found = parse_captions([caption], "normalized_text", [[1e300, 1e300]])
    ref, ref_found = parse_captions([render_coords(REFERENCE)], "text")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = pose_scores(xy, found, ref, ref_found)
    assert scores["missing_joint_rate"] == 1.0 and math.isnan(scores["mae"])


def test_an_overflowing_head_box_is_refused_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"head_boxes\[0\] gives head size inf"):
            pose_scores(
                REFERENCE[None],
                np.ones((1, 16), bool),
                REFERENCE[None],
                np.ones((1, 16), bool),
                head_boxes=[[-1.7e308, 0, 1.7e308, 10]],
            )
