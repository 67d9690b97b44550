"""The metric refuses wrong argument types with a ValueError naming the argument, never a TypeError/KeyError."""

from pathlib import Path

import evaluate
import numpy as np
import pytest

from blip_pose.pose_metrics import check_samples

METRIC_DIR = Path(__file__).resolve().parents[1] / "metrics" / "pose_threshold_accuracy"
REF = "rankl:1,2 upper_neck:3,4"


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR), keep_in_memory=True)


BAD = {
    "predictions None": (dict(predictions=None, references=[REF]), "predictions is None"),
    "references None": (dict(predictions=[REF], references=None), "references is None"),
    "predictions a string": (dict(predictions=REF, references=[REF]), "predictions must be a list"),
    "predictions an int": (dict(predictions=5, references=[REF]), "predictions must be a list"),
    "predictions a dict": (dict(predictions={"a": REF}, references=[REF]), "predictions must be a list"),
    "predictions a generator": (dict(predictions=(r for r in [REF]), references=[REF]), "predictions must be a list"),
    "a None sample": (dict(predictions=[None], references=[REF]), r"predictions\[0\] is NoneType"),
    "an int sample": (dict(predictions=[REF], references=[7]), r"references\[0\] is int"),
    "an array among captions": (
        dict(predictions=[REF, np.zeros((16, 2))], references=[REF, REF]),
        r"predictions\[1\] is ndarray",
    ),
    "empty": (dict(predictions=[], references=[]), "predictions is empty"),
    "thresholds None": (dict(predictions=[REF], references=[REF], thresholds=None), "thresholds must be a list"),
    "thresholds a string": (dict(predictions=[REF], references=[REF], thresholds="25"), "thresholds must be a list"),
    "thresholds not numbers": (dict(predictions=[REF], references=[REF], thresholds=["x"]), "thresholds must be num"),
    "pck_thresholds an int": (
        dict(predictions=[REF], references=[REF], pck_thresholds=5),
        "pck_thresholds must be a list",
    ),
    "head_sizes an int": (dict(predictions=[REF], references=[REF], head_sizes=5), "head_sizes must be a list"),
    "head_boxes a string": (dict(predictions=[REF], references=[REF], head_boxes="0,0,1,1"), "head_boxes must be"),
    "image_sizes an int": (
        dict(predictions=[REF], references=[REF], image_sizes=5, caption_type="normalized_text"),
        "image_sizes must be a list",
    ),
    "reference_visibility an int": (
        dict(predictions=[REF], references=[REF], reference_visibility=5),
        "reference_visibility must be a list",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_wrong_argument_types_are_value_errors_naming_the_argument(metric, case):
    kwargs, message = BAD[case]
    with pytest.raises(ValueError, match=message):
        metric.compute(**kwargs)


def test_the_metric_still_scores_after_refusals(metric):
    with pytest.raises(ValueError):
        metric.compute(predictions=None, references=[REF])
    assert metric.compute(predictions=[REF], references=[REF])["accuracy@1"] == 1.0
    arrays = [np.arange(32, dtype=float).reshape(16, 2)]
    assert metric.compute(predictions=np.asarray(arrays), references=arrays)["accuracy@1"] == 1.0


def test_check_samples_accepts_numpy_strings_and_zero_d_arrays_are_scalars():
    check_samples(np.array([REF, REF]), "predictions")
    with pytest.raises(ValueError, match="must be a list"):
        check_samples(np.array(3.0), "references")
