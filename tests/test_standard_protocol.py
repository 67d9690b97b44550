"""MPII's standard protocol: mmpose/HRNet's ``mpii_*.json`` layout read 0-based, its person crops, and the PCKh table
matching mmpose's ``MpiiPCKAccuracy`` (and HRNet's variant) on hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from transformers.models.vitpose.image_processing_pil_vitpose import box_to_center_and_scale

from blip_pose.heatmap.tiny import vitpose_processor
from blip_pose.heatmap.trainer import HeatmapCollator, decode
from blip_pose.pckh_table import pckh_table
from blip_pose.pose_metrics import head_sizes_from_boxes
from mpii_pose_dataset.reader import read_release
from mpii_pose_dataset.sample import SAMPLE_IMAGES, SAMPLE_MAT
from mpii_pose_dataset.standard_protocol import (
    crop_center,
    heatmap_examples,
    person_box,
    read_head_boxes,
    read_standard_annotations,
)

K = 16


@pytest.fixture(scope="module")
def sample_val(tmp_path_factory):
    """The bundled sample's annotated persons written as ``mpii_val.json`` + ``mpii_gt_val.mat`` (1-based, as the
    published files), with the reader's 0-based persons they came from."""
    folder = tmp_path_factory.mktemp("annot")
    entries, heads, persons = [], [], []
    for record in read_release(SAMPLE_MAT):
        for person in record.persons:
            if not (person.points and person.head_box and person.center and person.scale):
                continue
            joints, vis = [[0.0, 0.0]] * K, [0] * K
            for point in person.points:
                joints[point.id], vis[point.id] = [point.x + 1, point.y + 1], 1
            center = [person.center[0] + 1, person.center[1] + 1]
            entries.append(
                {"image": record.name, "center": center, "scale": person.scale, "joints": joints, "joints_vis": vis}
            )
            x1, y1, x2, y2 = np.asarray(person.head_box) + 1
            heads.append([[x1, y1], [x2, y2]])
            persons.append(person)
    (folder / "mpii_val.json").write_text(json.dumps(entries))
    scipy.io.savemat(str(folder / "mpii_gt_val.mat"), {"headboxes_src": np.transpose(heads, (1, 2, 0))})
    return folder, persons


def test_joints_and_centre_are_read_0_based(sample_val):
    folder, persons = sample_val
    read = read_standard_annotations(folder / "mpii_val.json")
    assert len(read) == len(persons) > 10
    for got, person in zip(read, persons):
        np.testing.assert_allclose(got.center, person.center)
        ids = [p.id for p in person.points]
        np.testing.assert_allclose(got.joints[ids], [[p.x, p.y] for p in person.points])
        assert got.labelled.sum() == len(ids) and got.labelled[ids].all()
    boxes = read_head_boxes(folder / "mpii_gt_val.mat")
    np.testing.assert_allclose(boxes, [p.head_box for p in persons])


def test_crop_is_mmpose_centre_shift_padding_and_aspect(sample_val):
    person = read_standard_annotations(sample_val[0] / "mpii_val.json")[0]
    s = person.scale
    np.testing.assert_allclose(crop_center(person), person.center + [0, 15 * s])
    box = person_box(person)
    np.testing.assert_allclose(box[2:], [200 * s, 200 * s])
    center, scale = box_to_center_and_scale(box, image_width=192, image_height=256)
    np.testing.assert_allclose(center, crop_center(person), rtol=1e-6)
    # padded x1.25 and made 3:4 (taller), in units of 200 px
    np.testing.assert_allclose(scale, [1.25 * s, 1.25 * s * 256 / 192], rtol=1e-6)


def test_examples_round_trip_through_the_crop_and_decoding(sample_val):
    folder, _ = sample_val
    persons = read_standard_annotations(folder / "mpii_val.json")[:4]
    examples = list(heatmap_examples(persons, SAMPLE_IMAGES))
    processor = vitpose_processor()
    batch = HeatmapCollator(processor)(examples)
    assert batch["pixel_values"].shape == (4, 3, 256, 192)
    keypoints, _ = decode(processor, batch["target_heatmaps"], batch["boxes"])
    trained = batch["target_weights"].numpy() > 0
    assert trained.sum() > 30
    np.testing.assert_allclose(keypoints[trained], np.stack([p.joints for p in persons])[trained], atol=1.0)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"image": "a.jpg", "center": [1, 2], "scale": 0, "joints": [[1, 1]] * K, "joints_vis": [1] * K}, "scale"),
        ({"image": "a.jpg", "center": [1, 2], "scale": 1, "joints": [[1, 1]] * 15, "joints_vis": [1] * K}, "joints"),
        ({"image": "a.jpg", "center": [1, 2], "scale": 1, "joints": [[1, 1]] * K, "joints_vis": [2] * K}, "0 or 1"),
        ({"image": "a.jpg", "center": [1, 2], "scale": 1, "joints": [[1, 1]] * K}, "missing joints_vis"),
    ],
)
def test_bad_entries_are_one_line_errors_naming_the_entry(tmp_path, entry, message):
    path = tmp_path / "mpii_val.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(ValueError, match=f"entry 0: .*{message}"):
        read_standard_annotations(path)


def _two_persons():
    """Head size 10. Person 0: all exact but rwri 6 px off and lwri 4 px; person 1: head exact, the rest exactly
    0.5 head sizes off, ankles unlabelled."""
    gt = np.zeros((2, K, 2))
    pred = gt.copy()
    pred[0, 10, 0], pred[0, 15, 1] = 6.0, 4.0
    pred[1, :, 0] = 5.0
    pred[1, 9, 0] = 0.0
    labelled = np.ones((2, K), dtype=bool)
    labelled[1, [0, 5]] = False
    return pred, gt, labelled, np.array([10.0, 10.0])


def test_pckh_table_mmpose_convention_by_hand():
    pred, gt, labelled, sizes = _two_persons()
    table = pckh_table(pred, gt, labelled, head_sizes=sizes)
    # strict "<": person 1's 0.5 errors are wrong; counts per joint are 2 (ankles 1)
    assert table["Head"] == 100.0
    assert table["Shoulder"] == table["Elbow"] == table["Hip"] == table["Knee"] == 50.0
    assert table["Wrist"] == pytest.approx(0.5 * (0.0 + 50.0))
    assert table["Ankle"] == 100.0
    # Mean over the 14 joints weighted by counts: (13 + 1) correct of (14 + 12) labelled
    assert table["Mean"] == pytest.approx(100 * 14 / 26)
    # at 0.1: person 0 loses both wrists (12 correct), person 1 keeps the head (1)
    assert table["Mean@0.1"] == pytest.approx(100 * 13 / 26)
    pred[0, 9] = np.nan  # a missing prediction is wrong
    assert pckh_table(pred, gt, labelled, head_sizes=sizes)["Head"] == 50.0


def test_pckh_table_hrnet_convention_by_hand():
    pred, gt, labelled, sizes = _two_persons()
    table = pckh_table(pred, gt, labelled, head_sizes=sizes, convention="hrnet")
    assert table["Shoulder"] == 100.0  # "<=": exactly 0.5 head sizes counts
    assert table["Wrist"] == pytest.approx(0.5 * (50.0 + 100.0))
    assert table["Mean"] == pytest.approx(100 * 25 / 26)
    assert table["Mean@0.1"] == pytest.approx(100 * 13 / 26)  # read at 0.11


def test_pckh_table_head_boxes_equal_head_sizes_and_pelvis_thorax_do_not_count():
    pred, gt, labelled, _ = _two_persons()
    boxes = np.array([[0.0, 0.0, 10 / 0.6 * 0.6, 10 / 0.6 * 0.8]] * 2)  # diagonal 10 / 0.6: head size 10
    np.testing.assert_allclose(head_sizes_from_boxes(boxes), [10.0, 10.0])
    by_box = pckh_table(pred, gt, labelled, head_boxes=boxes)
    assert by_box == pytest.approx(pckh_table(pred, gt, labelled, head_sizes=np.array([10.0, 10.0])))
    pred[:, [6, 7]] = 1000.0  # pelvis and thorax far off: no column moves
    assert pckh_table(pred, gt, labelled, head_boxes=boxes) == pytest.approx(by_box)


def test_pckh_table_refuses_bad_input():
    pred, gt, labelled, sizes = _two_persons()
    with pytest.raises(ValueError, match="person 1 has labelled joints but head size 0"):
        pckh_table(pred, gt, labelled, head_sizes=np.array([10.0, 0.0]))
    with pytest.raises(ValueError, match="exactly one"):
        pckh_table(pred, gt, labelled)
    with pytest.raises(ValueError, match="convention"):
        pckh_table(pred, gt, labelled, head_sizes=sizes, convention="matlab")  # type: ignore[arg-type]


def test_sample_table_mean_equals_a_hand_count(sample_val):
    """Even persons 0.3 head sizes off, odd persons 0.7: the Mean is the even persons' share of labelled joints
    outside pelvis and thorax, counted one by one."""
    folder, _ = sample_val
    persons = read_standard_annotations(folder / "mpii_val.json")
    boxes = read_head_boxes(folder / "mpii_gt_val.mat")
    sizes = head_sizes_from_boxes(boxes)
    gt = np.stack([p.joints for p in persons])
    labelled = np.stack([p.labelled for p in persons])
    offsets = np.where(np.arange(len(persons)) % 2 == 0, 0.3, 0.7) * sizes
    pred = gt + np.stack([offsets, np.zeros_like(offsets)], axis=-1)[:, None, :]
    correct = total = 0
    for n, person in enumerate(persons):
        for joint in range(K):
            if joint in (6, 7) or not person.labelled[joint]:
                continue
            total += 1
            correct += n % 2 == 0
    table = pckh_table(pred, gt, labelled, head_boxes=boxes)
    assert 0 < correct < total
    assert table["Mean"] == pytest.approx(100 * correct / total)
    assert table["Mean@0.1"] == 0.0


def _reference_table(pred, gt, labelled, sizes, threshold, at_01, inclusive):
    """mmpose's / HRNet's algorithm step by step: per-joint rates in a loop, parts as left/right means, Mean as the
    per-joint rates weighted by joint counts with pelvis and thorax masked out."""

    def rates(thr):
        out = np.zeros(K)
        for j in range(K):
            hits = [
                (np.linalg.norm(pred[n, j] - gt[n, j]) / sizes[n] <= thr)
                if inclusive
                else (np.linalg.norm(pred[n, j] - gt[n, j]) / sizes[n] < thr)
                for n in range(len(gt))
                if labelled[n, j]
            ]
            out[j] = 100.0 * np.mean(hits) if hits else 0.0
        return out

    counts = np.ma.array(labelled.sum(axis=0), mask=False)
    counts.mask[6:8] = True
    ratio = counts / counts.sum()
    pckh, pck01 = rates(threshold), rates(at_01)
    parts = {"Head": (9,), "Shoulder": (12, 13), "Elbow": (11, 14), "Wrist": (10, 15), "Hip": (2, 3)}
    parts |= {"Knee": (1, 4), "Ankle": (0, 5)}
    table = {name: float(np.mean(pckh[list(ids)])) for name, ids in parts.items()}
    table["Mean"] = float(np.sum(pckh * ratio))
    table["Mean@0.1"] = float(np.sum(pck01 * ratio))
    return table


@pytest.mark.parametrize("convention, at_01, inclusive", [("mmpose", 0.1, False), ("hrnet", 0.11, True)])
def test_pckh_table_equals_the_step_by_step_algorithm(convention, at_01, inclusive):
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 500, size=(40, K, 2)).astype(float)
    sizes = 2.0 * rng.integers(10, 30, size=40)
    pred = gt + rng.normal(0, 15, size=gt.shape)
    pred[:10, 3] = gt[:10, 3] + np.stack([0.5 * sizes[:10], np.zeros(10)], axis=-1)  # exact ties at 0.5
    labelled = rng.uniform(size=(40, K)) > 0.2
    labelled[:10, 3] = True
    table = pckh_table(pred, gt, labelled, head_sizes=sizes, convention=convention)
    assert table == pytest.approx(_reference_table(pred, gt, labelled, sizes, 0.5, at_01, inclusive))
    other = pckh_table(pred, gt, labelled, head_sizes=sizes, convention="hrnet" if convention == "mmpose" else "mmpose")
    assert other["Hip"] != table["Hip"]  # the ties tell the conventions apart
