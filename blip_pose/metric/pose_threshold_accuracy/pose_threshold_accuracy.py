"""Pose threshold accuracy: 2D pose metrics (MPII's 16 joints, or any keypoint set) for captions or arrays.

The math lives in ``blip_pose.pose_metrics`` (plain numpy, shared with the trainer); this file only adapts
evaluate's inputs to it. The metric card (README.md next to this file) tells the same story at length.
"""

import datasets
import evaluate

from blip_pose.geometry import to_original_frame
from blip_pose.keypoints import resolve_spec
from blip_pose.pose_metrics import (
    DEFAULT_PCK_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    check_array_argument,
    check_samples,
    parse_captions,
    points_from_arrays,
    pose_scores,
    visibility_array,
)

_CITATION = """\
@inproceedings{andriluka14cvpr,
  author = {Mykhaylo Andriluka and Leonid Pishchulin and Peter Gehler and Bernt Schiele},
  title = {2D Human Pose Estimation: New Benchmark and State of the Art Analysis},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2014}
}
"""

_DESCRIPTION = """\
Scores 2D human poses (the 16 MPII joints) predicted as captions such as "rankl:12,30 rknee:15,52 ..." or as
J x 2 pixel arrays. A sample is correct at threshold T when its joints are close enough to the reference:
by default when the mean distance over the reference's joints is at most T pixels (criterion "mean"), or
optionally when every joint is within T (criterion "all"). Beside accuracy@T (T = 25, 5, 1 px by default) it
reports the mean per-joint Euclidean error (mae, plus mae_x / mae_y), per-joint PCK at pixel thresholds, the
MPII PCKh@0.5 when head boxes or head sizes are given, and how many predictions lacked joints (parse_rate,
missing_joint_rate). A predicted joint that is missing counts as wrong at every threshold and is left out of
the errors; it is never silently dropped. Other keypoint sets (`keypoints`: a registered name or a spec
mapping) score the same way; a set normalised by the person box reports pck_person@0.2 given person_boxes, and
COCO keypoint AP/AR (pycocotools' own COCOeval with the set's sigmas) given the persons' COCO annotations.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`, or of J x 2 float arrays): predicted captions of the column named by
        `caption_type`, or pixel coordinates (x, y) per joint in the keypoint set's order; NaN in x and y = joint
        missing.
    references (`list` of `str`, or of J x 2 float arrays): reference poses in the same form (captions may be
        scored against arrays). The joints present in a reference are the ones evaluated.
    caption_type (`str`, default "text"): "text", "simple_text", "normalized_text" or "normalized_simple_text".
    image_sizes (`list` of (width, height)): per sample; required by the normalized caption types.
    reference_visibility (`list` of visibility captions or of J 0/1 flags): when given, only visible
        reference joints are evaluated.
    head_boxes (`list` of (x1, y1, x2, y2)) or head_sizes (`list` of `float`): per sample, in the coordinates'
        frame; adds pckh@0.5 (head size = 0.6 x head-box diagonal). For keypoint sets normalised by the head.
    person_boxes (`list` of (x1, y1, x2, y2)): per sample, for keypoint sets normalised by the person box; adds
        pck_person@0.2 (correct within 0.2 x the box's larger side).
    keypoints (`str` or `dict`, default "mpii16"): the keypoint set the captions name and the arrays are ordered
        by: a registered name or a spec mapping (`blip_pose.keypoints.KeypointSpec.to_dict()`'s keys; a model's
        `keypoints.json`). Its caption tokens name the per-joint keys.
    coco_annotations (`list` of `dict`): per sample, the person's COCO annotation in the ORIGINAL image:
        `image_id`, `bbox` (x, y, w, h), `keypoints` (K x [x, y, v]), `area`; adds coco_AP, coco_AP50, coco_AP75,
        coco_APm, coco_APl, coco_AR, coco_AR50, coco_AR75, coco_ARm, coco_ARl (COCOeval's stats, -1 where COCO has
        nothing to score), predictions taken as top-down, one per annotated person. Needs the set's OKS sigmas.
    crop_boxes (`list` of (x0, y0, x1, y1)): per sample, where the scored image lies in the original one
        (a dataset's `crop_box`); with `image_sizes` (the scored images' width, height) it maps predictions back
        to original pixels for coco_annotations. Without it predictions are taken as original pixels.
    thresholds (`list` of `float`, default [25, 5, 1]): pixel thresholds of accuracy@T.
    criterion (`str`, default "mean"): "mean" (mean joint error <= T) or "all" (every joint error <= T).
    pck_thresholds (`list` of `float`, default [5]): pixel thresholds of pck@T.
Returns:
    `dict` of `float`: accuracy@T per threshold, mae, mae_x, mae_y, pck@T and pck@T/<joint>, pckh@0.5 and
    pckh@0.5/<joint> (with head information) or pck_person@0.2 and pck_person@0.2/<joint> (with person boxes),
    coco_AP ... coco_ARl (with coco_annotations), parse_rate, missing_joint_rate, num_samples,
    num_scored_samples. A value with nothing to average is NaN.
Examples:
    >>> import blip_pose, evaluate
    >>> metric = evaluate.load(blip_pose.metric_path())
    >>> results = metric.compute(
    ...     predictions=["upper_neck:12,30", "head:40,8"],
    ...     references=["upper_neck:11,30", "upper_neck:52,20"],
    ...     caption_type="simple_text",
    ... )
    >>> [results[k] for k in ("accuracy@25", "accuracy@1", "mae", "parse_rate", "missing_joint_rate")]
    [0.5, 0.5, 1.0, 0.5, 0.5]

    >>> import numpy as np
    >>> reference = np.full((16, 2), 100.0)
    >>> prediction = reference.copy()
    >>> prediction[0, 0] += 32  # one joint 32 px off, the other 15 exact: mean error 2 px
    >>> mean = metric.compute(predictions=[prediction], references=[reference])
    >>> every = metric.compute(predictions=[prediction], references=[reference], criterion="all")
    >>> mean["accuracy@25"], mean["accuracy@5"], every["accuracy@25"], mean["mae"], mean["pck@5"]
    (1.0, 1.0, 0.0, 2.0, 0.9375)

    >>> results = metric.compute(
    ...     predictions=[reference + [6.0, 8.0]], references=[reference], head_boxes=[[0, 0, 30, 40]])
    >>> results["mae"], results["mae_x"], results["mae_y"], results["pckh@0.5"], results["pckh@0.5/head"]
    (10.0, 6.0, 8.0, 1.0, 1.0)

    >>> results = metric.compute(
    ...     predictions=["upper_neck:0.500,0.250"],
    ...     references=["upper_neck:0.510,0.250"],
    ...     caption_type="normalized_simple_text",
    ...     image_sizes=[(200, 100)],
    ... )
    >>> round(results["mae"], 6)
    2.0

    >>> hand = {"name": "hand", "names": ["thumb", "index", "middle", "ring", "pinky"],
    ...         "captions": ["thumb", "index", "middle", "ring", "pinky"], "normalizer": "person"}
    >>> results = metric.compute(
    ...     predictions=["thumb:10,10 index:20,10 middle:30,10 ring:40,10 pinky:50,40"],
    ...     references=["thumb:10,10 index:20,10 middle:30,10 ring:40,10 pinky:50,10"],
    ...     keypoints=hand,
    ...     person_boxes=[[0, 0, 100, 50]],
    ... )
    >>> results["pck_person@0.2"], results["pck_person@0.2/pinky"], results["mae"]
    (0.8, 0.0, 6.0)
"""

_POINTS = datasets.Sequence(datasets.Sequence(datasets.Value("float64")))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PoseThresholdAccuracy(evaluate.Metric):
    def _info(self):
        # Strings first: evaluate's gradio widget shows the first option.
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
                datasets.Features({"predictions": datasets.Value("string"), "references": _POINTS}),
                datasets.Features({"predictions": _POINTS, "references": _POINTS}),
            ],
            reference_urls=["http://human-pose.mpi-inf.mpg.de/#evaluation"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references; checks what evaluate 0.4.6 gets wrong first.

        A missing, scalar or mixed column is a TypeError deep inside evaluate (or, for an array among captions, a
        silently stringified sample), an empty batch is an IndexError there, and a length mismatch leaves the input
        format of the failed batch selected, so the next compute with the other input form fails; all are plain
        ValueErrors naming the argument here.
        """
        check_samples(predictions, "predictions")
        check_samples(references, "references")
        if len(predictions) != len(references):
            raise ValueError(
                f"Mismatch in the number of predictions ({len(predictions)}) and references ({len(references)})"
            )
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def _compute(
        self,
        predictions,
        references,
        caption_type="text",
        image_sizes=None,
        reference_visibility=None,
        head_boxes=None,
        head_sizes=None,
        thresholds=DEFAULT_THRESHOLDS,
        criterion="mean",
        pck_thresholds=DEFAULT_PCK_THRESHOLDS,
        person_boxes=None,
        keypoints=None,
        coco_annotations=None,
        crop_boxes=None,
    ):
        n = len(references)
        try:
            spec = resolve_spec(keypoints)
        except ValueError as err:
            raise ValueError(f"keypoints: {err}") from None
        for name, values in (
            ("image_sizes", image_sizes),
            ("head_boxes", head_boxes),
            ("head_sizes", head_sizes),
            ("person_boxes", person_boxes),
            ("reference_visibility", reference_visibility),
            ("coco_annotations", coco_annotations),
            ("crop_boxes", crop_boxes),
        ):
            if values is not None:
                check_array_argument(values, name)
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries for {n} samples")
        pred_xy, pred_found = _points(predictions, "predictions", caption_type, image_sizes, spec)
        ref_xy, ref_found = _points(references, "references", caption_type, image_sizes, spec)
        visible = None if reference_visibility is None else visibility_array(reference_visibility, n, spec=spec)
        scores = pose_scores(
            pred_xy,
            pred_found,
            ref_xy,
            ref_found,
            thresholds=thresholds,
            criterion=criterion,
            pck_thresholds=pck_thresholds,
            ref_visible=visible,
            head_boxes=head_boxes,
            head_sizes=head_sizes,
            person_boxes=person_boxes,
            spec=spec,
        )
        if coco_annotations is not None:
            scores.update(_coco_scores(pred_xy, coco_annotations, crop_boxes, image_sizes, spec))
        return scores


def _coco_scores(pred_xy, annotations, crop_boxes, image_sizes, spec):
    """COCO keypoint AP/AR of the predictions (mapped back to original pixels through the crop boxes)."""
    from blip_pose.coco_eval import annotated_persons, coco_keypoint_ap  # pycocotools only when asked

    if crop_boxes is not None:
        if image_sizes is None:
            raise ValueError("crop_boxes need image_sizes: the scored images' (width, height) per sample")
        pred_xy = to_original_frame(pred_xy, crop_boxes, image_sizes)
    persons = annotated_persons(annotations, spec, "coco_annotations")
    return {f"coco_{name}": value for name, value in coco_keypoint_ap(pred_xy, persons, spec).items()}


def _points(values, what, caption_type, image_sizes, spec):
    """(xy (N, K, 2), found (N, K)) from one input column, captions or arrays."""
    if isinstance(values[0], str):
        check = what == "references"
        return parse_captions(values, caption_type, image_sizes, what=what, check_type=check, spec=spec)
    xy, found = points_from_arrays(values, what)
    if xy.shape[1] != spec.num_keypoints:
        raise ValueError(
            f"{what} must have {spec.num_keypoints} joints ({spec.name} order) per sample, got {xy.shape[1]}"
        )
    return xy, found
