"""blip_pose.pose_metrics against hand-computed numbers, and every bad input it must refuse."""

import math

import numpy as np
import pytest

from blip_pose.keypoints import KeypointSpec
from blip_pose.pose_format import parse_normalized, render_coords, render_normalized
from blip_pose.pose_metrics import (
    joint_errors,
    parse_captions,
    points_from_arrays,
    pose_scores,
    sample_accuracy,
    visibility_array,
)

NAN = np.nan
NAMES = ("a", "b", "c")
#: The three-joint set of the hand-computed cases (head-normalised, like MPII, so head sizes add PCKh).
ABC = KeypointSpec("abc", names=NAMES, captions=NAMES, normalizer="head")


def hand_case():
    """Two samples, three joints.

    Sample 0: errors 5 (3-4-5 triangle), 0, 0 -> mean 5/3, max 5.
    Sample 1: the reference lacks c; joint a is 10 px off (6-8-10), the prediction lacks b.
    """
    ref = np.array([[[0, 0], [10, 0], [0, 10]], [[0, 0], [0, 0], [NAN, NAN]]], dtype=float)
    ref_found = np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)
    pred = np.array([[[3, 4], [10, 0], [0, 10]], [[6, 8], [NAN, NAN], [1, 1]]], dtype=float)
    pred_found = np.array([[1, 1, 1], [1, 0, 1]], dtype=bool)
    return pred, pred_found, ref, ref_found


def scores(**kwargs):
    pred, pred_found, ref, ref_found = hand_case()
    kwargs.setdefault("spec", ABC)
    return pose_scores(pred, pred_found, ref, ref_found, **kwargs)


def test_every_output_by_hand():
    out = scores(thresholds=(25, 4, 1), pck_thresholds=(5,))
    # Sample 1 lacks an evaluated joint: wrong everywhere. Sample 0: mean 5/3 <= 25 and <= 4, not <= 1.
    assert out["accuracy@25"] == 0.5 and out["accuracy@4"] == 0.5 and out["accuracy@1"] == 0.0
    # Found and evaluated joints: errors 5, 0, 0 and 10.
    assert out["mae"] == pytest.approx(15 / 4)
    assert out["mae_x"] == pytest.approx((3 + 6) / 4)
    assert out["mae_y"] == pytest.approx((4 + 8) / 4)
    # Five evaluated joints; within 5 px: sample 0 a (exactly 5), b, c. Missing b of sample 1 is wrong.
    assert out["pck@5"] == pytest.approx(3 / 5)
    assert (out["pck@5/a"], out["pck@5/b"], out["pck@5/c"]) == (0.5, 0.5, 1.0)
    assert out["parse_rate"] == 0.5
    assert out["missing_joint_rate"] == pytest.approx(1 / 5)
    assert out["num_samples"] == 2.0 and out["num_scored_samples"] == 2.0
    assert not any(k.startswith("pckh") for k in out)
    assert all(type(v) is float for v in out.values())


def test_mean_and_all_differ():
    # Sample 0 has mean error 5/3 but a joint 5 px off: correct at 4 px under "mean", wrong under "all".
    mean = scores(thresholds=(25, 4), criterion="mean")
    every = scores(thresholds=(25, 4), criterion="all")
    assert (mean["accuracy@25"], mean["accuracy@4"]) == (0.5, 0.5)
    assert (every["accuracy@25"], every["accuracy@4"]) == (0.5, 0.0)
    # The criterion changes the accuracy only.
    assert {k: v for k, v in mean.items() if "accuracy" not in k} == {
        k: v for k, v in every.items() if "accuracy" not in k
    }


def test_sample_accuracy_counts_missing_as_wrong_at_any_threshold():
    errors = np.array([[0.0, NAN]])
    found = np.array([[True, False]])
    evaluated = np.ones((1, 2), dtype=bool)
    for criterion in ("mean", "all"):
        assert sample_accuracy(errors, found, evaluated, (1e9,), criterion).tolist() == [0.0]
    # A joint the reference does not score may be missing.
    assert sample_accuracy(errors, found, np.array([[True, False]]), (1.0,)).tolist() == [1.0]


def test_pckh_by_hand_with_mean_excluding_pelvis_and_thorax():
    # Head sizes 10 and 30 -> thresholds 5 px and 15 px: sample 0 all three joints in, sample 1 a (10 px) in, b
    # missing. Per joint: pelvis 2/2, b 1/2, c 1/1; the mean leaves pelvis out: (1 + 1) / 3.
    pelvis = KeypointSpec("pbc", ("pelvis", "b", "c"), ("pelvis", "b", "c"), normalizer="head", mean_excluded=(0,))
    out = scores(head_sizes=[10, 30], spec=pelvis)
    assert (out["pckh@0.5/pelvis"], out["pckh@0.5/b"], out["pckh@0.5/c"]) == (1.0, 0.5, 1.0)
    assert out["pckh@0.5"] == pytest.approx(2 / 3)


def test_pckh_from_head_boxes_uses_0_6_diagonal():
    # Boxes with diagonals 50 and 10: head sizes 30 and 6, thresholds 15 and 3 px; sample 1's a (10 px) is out.
    out = scores(head_boxes=[[0, 0, 30, 40], [5, 5, 11, 13]])
    assert (out["pckh@0.5/a"], out["pckh@0.5/b"], out["pckh@0.5/c"]) == (0.5, 0.5, 1.0)
    assert out["pckh@0.5"] == pytest.approx(3 / 5)


def test_visibility_limits_the_evaluated_joints():
    # Hide c of sample 0: errors left 5, 0 (sample 0) and 10 (sample 1).
    out = scores(ref_visible=[[1, 1, 0], [1, 1, 1]])
    assert out["mae"] == pytest.approx(5.0)
    assert math.isnan(out["pck@5/c"])
    # Hide everything of sample 1: it is skipped, and says so.
    out = scores(ref_visible=[[1, 1, 1], [0, 0, 0]], thresholds=(25,))
    assert out["num_scored_samples"] == 1.0 and out["num_samples"] == 2.0
    assert out["accuracy@25"] == 1.0 and out["parse_rate"] == 1.0 and out["missing_joint_rate"] == 0.0


def test_undefined_values_are_nan_not_errors():
    pred, _, ref, ref_found = hand_case()
    out = pose_scores(np.full_like(pred, NAN), np.zeros((2, 3), bool), ref, ref_found, spec=ABC)
    assert math.isnan(out["mae"]) and math.isnan(out["mae_x"])
    assert out["accuracy@25"] == 0.0 and out["parse_rate"] == 0.0 and out["missing_joint_rate"] == 1.0


def test_threshold_keys_follow_the_thresholds_given():
    out = scores(thresholds=(2.5, 10.0), pck_thresholds=(3, 7.5))
    assert [k for k in out if k.startswith("accuracy@")] == ["accuracy@2.5", "accuracy@10"]
    assert "pck@3" in out and "pck@7.5/b" in out


def test_joint_errors_shape_and_values():
    pred = np.zeros((2, 4, 2))
    ref = np.full((2, 4, 2), 3.0)
    ref[..., 1] = 4.0
    assert joint_errors(pred, ref).shape == (2, 4)
    assert np.allclose(joint_errors(pred, ref), 5.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"thresholds": ()}, "thresholds is empty"),
        ({"thresholds": (5, 0)}, "finite and positive"),
        ({"thresholds": (5, -1)}, "finite and positive"),
        ({"thresholds": (NAN,)}, "finite and positive"),
        ({"thresholds": (5, 5.0)}, "repeat"),
        ({"pck_thresholds": (0,)}, "pck_thresholds"),
        ({"criterion": "median"}, "criterion"),
        ({"head_sizes": [10, 0]}, r"head_sizes\[1\]"),
        ({"head_sizes": [10]}, "shape"),
        ({"head_boxes": [[0, 0, 0, 0], [0, 0, 1, 1]]}, r"head_boxes\[0\]"),
        ({"head_boxes": [[0, 0, 1, 1], [0, 0, 1, 1]], "head_sizes": [1, 1]}, "not both"),
        ({"ref_visible": [[1, 1, 2], [1, 1, 1]]}, "0/1"),
        ({"spec": KeypointSpec("ab", ("a", "b"), ("a", "b"))}, "joint names"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scores(**kwargs)


def test_bad_arrays():
    pred, pred_found, ref, ref_found = hand_case()
    with pytest.raises(ValueError, match="shape"):
        pose_scores(pred[:1], pred_found[:1], ref, ref_found)
    with pytest.raises(ValueError, match="empty"):
        pose_scores(pred[:0], pred_found[:0], ref[:0], ref_found[:0])
    bad = ref.copy()
    bad[0, 1, 0] = np.inf
    with pytest.raises(ValueError, match=r"references\[0\] joint 1"):
        pose_scores(pred, pred_found, bad, ref_found, spec=ABC)
    bad = pred.copy()
    bad[1, 0, 1] = NAN
    with pytest.raises(ValueError, match=r"predictions\[1\] joint 0"):
        pose_scores(bad, pred_found, ref, ref_found, spec=ABC)
    no_joint = ref_found.copy()
    no_joint[1] = False
    with pytest.raises(ValueError, match=r"references\[1\] has no joint"):
        pose_scores(pred, pred_found, ref, no_joint, spec=ABC)


def test_points_from_arrays_nan_pairs_are_missing_and_the_rest_must_be_finite():
    xy, found = points_from_arrays([[[1, 2], [NAN, NAN]]])
    assert found.tolist() == [[True, False]] and xy[0, 0].tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"predictions\[0\] joint 1"):
        points_from_arrays([[[1, 2], [NAN, 3]]])
    with pytest.raises(ValueError, match=r"references\[0\] joint 0"):
        points_from_arrays([[[np.inf, 2], [1, 3]]], "references")
    with pytest.raises(ValueError, match=r"\(J, 2\)"):
        points_from_arrays([[[1, 2, 3]]])
    with pytest.raises(ValueError, match="one shape"):
        points_from_arrays([[[1, 2]], [[1, 2], [3, 4]]])


def test_parse_captions_matches_the_caption_module():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (3, 16, 2))
    sizes = [(100, 100), (120, 100), (100, 150)]
    captions = [render_normalized(p, w, h) for p, (w, h) in zip(points, sizes)]
    xy, found = parse_captions(captions, "normalized_text", sizes, what="references", check_type=True)
    for i, (caption, (w, h)) in enumerate(zip(captions, sizes)):
        expected = parse_normalized(caption, w, h)
        assert np.array_equal(xy[i], expected.xy) and np.array_equal(found[i], expected.found)
    pixel = [render_coords(p) for p in points]
    xy, found = parse_captions(pixel + ["upper_neck:3,4 garbage"], "text", what="references", check_type=True)
    assert found[:3].all() and found[3].tolist() == [j == 8 for j in range(16)]


def test_parse_captions_refuses_mismatched_and_bad_input():
    with pytest.raises(ValueError, match=r"references\[1\].*normalized_text"):
        parse_captions(["rankl:3,4", "rankl:0.312,0.500"], "text", what="references", check_type=True)
    with pytest.raises(ValueError, match=r"references\[0\].*outside \[0, 1\]"):
        parse_captions(["rankl:3,4"], "normalized_text", [(10, 10)], what="references", check_type=True)
    # Model output is never judged: a fractional predicted pixel value is just a coordinate.
    xy, found = parse_captions(["rankl:3.5,4"], "text")
    assert found[0, 0] and xy[0, 0].tolist() == [3.5, 4.0]
    with pytest.raises(ValueError, match="needs image_sizes"):
        parse_captions(["rankl:0.1,0.2"], "normalized_text")
    with pytest.raises(ValueError, match=r"image_sizes\[0\]"):
        parse_captions(["rankl:0.1,0.2"], "normalized_text", [(0, 10)])
    with pytest.raises(ValueError, match="shape"):
        parse_captions(["rankl:0.1,0.2"], "normalized_text", [(10, 10), (10, 10)])
    with pytest.raises(ValueError, match=r"predictions\[1\] is int"):
        parse_captions(["rankl:1,2", 5], "text")
    with pytest.raises(ValueError, match="reference_visibility"):
        parse_captions(["rankl:1"], "visibility_text")
    with pytest.raises(ValueError, match="caption_type must be one of"):
        parse_captions(["rankl:1,2"], "joint_points")


def test_visibility_from_captions_or_flags():
    vis = visibility_array(["rankl:1 rknee:0", "head:1"], 2)
    assert vis[0, :2].tolist() == [1, 0] and vis[0, 2:].sum() == 0 and vis[1].tolist() == [j == 9 for j in range(16)]
    flags = np.eye(2, 16, dtype=int)
    assert np.array_equal(visibility_array(flags.tolist(), 2), flags)
    with pytest.raises(ValueError, match="entries for 2 samples"):
        visibility_array(["rankl:1"], 2)
    with pytest.raises(ValueError, match="0/1"):
        visibility_array([[2] * 16], 1)
