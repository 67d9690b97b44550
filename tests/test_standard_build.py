"""Issue 25 item 2: MPII's standard protocol as a dataset. Fixtures in mmpose's JSON layout from the bundled sample,
``python -m mpii_pose_dataset build-standard`` through the build core (crops from centre and scale, the columns
that score back in the original image), its ``--download`` from local archives, and the literature's PCKh table in
the evaluation of a captioner and a heatmap model trained on it."""

from __future__ import annotations

import json
import math
import tarfile

import datasets
import numpy as np
import pytest
import scipy.io
from training_fixtures import load_script

from blip_pose.dataset_source import recorded_source, reports_pckh_table
from blip_pose.geometry import to_original_frame
from blip_pose.pckh_table import TABLE_COLUMNS, pckh_table
from blip_pose.pose_metrics import head_sizes_from_boxes
from blip_pose.training.data import references
from blip_pose.training.evaluation import PoseMetrics, load_pose_metric
from mpii_pose_dataset.cli import main as cli
from mpii_pose_dataset.download import MPII_URLS, STANDARD_URL
from mpii_pose_dataset.reader import read_release
from mpii_pose_dataset.sample import SAMPLE_MAT
from mpii_pose_dataset.standard_fixtures import write_standard_fixtures
from mpii_pose_dataset.standard_protocol import crop_center, read_head_boxes, read_standard_annotations

TABLE_KEYS = [f"eval_pckh_table/{column}" for column in TABLE_COLUMNS]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("standard")
    annotations = write_standard_fixtures(root / "fixtures")
    out = root / "built"
    argv = ["build-standard", "--annotations", str(annotations), "--images", str(root / "fixtures" / "images"),
            "--output", str(out), "--num-proc", "1", "--image-size", "64"]  # fmt: skip
    assert cli(argv) == 0
    return annotations, out


def test_fixtures_are_the_sample_in_the_files_layout_with_1_based_values(tmp_path):
    annotations = write_standard_fixtures(tmp_path)
    raw = json.loads((annotations / "mpii_val.json").read_text())
    assert set(raw[0]) == {"image", "center", "scale", "joints", "joints_vis"}
    sample = {(r.name, i): p for r in read_release(SAMPLE_MAT) for i, p in enumerate(r.persons) if p.center}
    by_centre = {(name, p.center): p for (name, _), p in sample.items()}
    entry = raw[0]
    person = by_centre[(entry["image"], (entry["center"][0] - 1, entry["center"][1] - 1))]
    point = person.points[0]
    assert entry["joints"][point.id] == [point.x + 1, point.y + 1]  # MATLAB's 1-based pixels, as the real files
    gt = scipy.io.loadmat(str(annotations / "mpii_gt_val.mat"))
    n = len(raw)
    assert gt["headboxes_src"].shape == (2, 2, n) and gt["jnt_missing"].shape == (16, n)
    assert gt["pos_gt_src"].shape == (16, 2, n)
    np.testing.assert_array_equal(gt["jnt_missing"].T, 1 - np.asarray([e["joints_vis"] for e in raw]))
    train = json.loads((annotations / "mpii_train.json").read_text())
    assert not {e["image"] for e in train} & {e["image"] for e in raw}  # one picture's persons on one side
    partly = [e for e in train + raw if not all(e["joints_vis"])]
    assert partly and all(e["joints"][e["joints_vis"].index(0)] == [-1.0, -1.0] for e in partly)


def test_the_build_crops_from_centre_and_scale_and_scores_back_in_the_original(built):
    annotations, out = built
    report = json.loads((out / "reports" / "standard.json").read_text())
    files = {split: read_standard_annotations(annotations / f"mpii_{name}.json") for split, name in
             (("train", "train"), ("validation", "val"))}  # fmt: skip
    partly = sum(not p.labelled.all() for persons in files.values() for p in persons)
    assert report["skipped"] == {"unlabelled_joints": partly} and partly > 0  # counted, never a guessed joint
    assert sum(report["examples"].values()) == sum(map(len, files.values())) - partly
    assert report["source"]["kind"] == "mpii_standard" and report["source"]["synthetic"] is True
    assert recorded_source(str(out), "standard")["kind"] == "mpii_standard"
    heads = read_head_boxes(annotations / "mpii_gt_val.mat")
    data = datasets.load_dataset(str(out))
    for split, rows in data.items():
        for row in rows.select_columns(["joint_points", "crop_box", "head_box", "standard_index", "width"]):
            person = files[split][row["standard_index"]]
            box, size = np.asarray([row["crop_box"]]), np.asarray([[64.0, 64.0]])
            side = 200 * person.scale * 1.25  # mmpose's padding of the square person box
            np.testing.assert_allclose(box[0, 2:] - box[0, :2], [side, side], rtol=1e-5)
            np.testing.assert_allclose((box[0, :2] + box[0, 2:]) / 2, crop_center(person), rtol=1e-5)
            joints = to_original_frame(np.asarray([row["joint_points"]])[..., :2], box, size)[0]
            np.testing.assert_allclose(joints, person.joints, atol=1e-2)  # 0-based, back in the original
            head = np.asarray(row["head_box"])
            if split == "train":
                assert np.isnan(head).all()  # mpii_train.json has no head boxes
            else:
                back = to_original_frame(head.reshape(1, 2, 2), box, size).ravel()
                np.testing.assert_allclose(back, heads[row["standard_index"]], atol=1e-2)


def test_validation_needs_the_head_boxes_one_line_error(tmp_path, capsys):
    annotations = write_standard_fixtures(tmp_path / "fixtures")
    (annotations / "mpii_gt_val.mat").unlink()
    argv = ["build-standard", "--annotations", str(annotations), "--images", str(tmp_path / "fixtures" / "images"),
            "--output", str(tmp_path / "out"), "--num-proc", "1"]  # fmt: skip
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no mpii_gt_val.mat" in err and "head boxes" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("local_images", [False, True])
def test_download_fetches_mmpose_annotations_beside_the_official_images(tmp_path, monkeypatch, local_images):
    """No network: the two archives are local tars of the published layout; ``download`` is the only fake. With
    ``--images`` only the annotation archive is fetched, and the images are read from that folder."""
    fixtures = tmp_path / "fixtures"
    annotations = write_standard_fixtures(fixtures)
    archives = {MPII_URLS["images"]: tmp_path / "images.tar.gz", STANDARD_URL: tmp_path / "mpii_annotations.tar"}
    with tarfile.open(archives[MPII_URLS["images"]], "w:gz") as tar:
        tar.add(fixtures / "images", arcname="images")
    with tarfile.open(archives[STANDARD_URL], "w") as tar:
        for name in ("mpii_train.json", "mpii_val.json", "mpii_gt_val.mat"):
            tar.add(annotations / name, arcname=f"annotations/{name}")
    fetched = []

    def download(self, url_or_urls):
        fetched.extend(url_or_urls.values())
        return {key: str(archives[url]) for key, url in url_or_urls.items()}

    monkeypatch.setattr(datasets.DownloadManager, "download", download)
    out = tmp_path / "out"
    argv = ["build-standard", "--download", "--output", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--num-proc", "1", "--image-size", "64"]  # fmt: skip
    if local_images:
        argv += ["--images", str(fixtures / "images")]
    assert cli(argv) == 0
    assert sorted(fetched) == ([STANDARD_URL] if local_images else sorted([MPII_URLS["images"], STANDARD_URL]))
    report = json.loads((out / "reports" / "standard.json").read_text())
    assert report["source"]["annotation_file"] == "mpii_train.json" and report["examples"]["validation"] > 0


def test_the_table_from_a_built_split_equals_pckh_table_by_hand(built):
    """Even rows 0.3 head sizes off, odd rows 0.7 (in the crop's pixels): the run's table is pckh_table on the same
    arrays in original pixels, and its Mean is the even rows' share (all 14 joints of each are labelled)."""
    annotations, out = built
    validation = datasets.load_dataset(str(out))["validation"]
    refs = references(validation, "text", "image", pckh_table=True)
    n = len(refs.names)
    sizes = head_sizes_from_boxes(refs.head_boxes)
    shift = np.where(np.arange(n) % 2 == 0, 0.3, 0.7) * sizes
    xy = refs.xy + np.stack([shift, np.zeros(n)], axis=-1)[:, None, :]
    scores = PoseMetrics(None, refs, "text", load_pose_metric(), None).score_joints(xy)  # type: ignore[arg-type]
    persons = read_standard_annotations(annotations / "mpii_val.json")
    gt = np.stack([persons[i].joints for i in validation["standard_index"]])
    heads = read_head_boxes(annotations / "mpii_gt_val.mat")[validation["standard_index"]]
    pred = to_original_frame(xy, refs.crop_boxes, refs.sizes)
    expected = pckh_table(pred, gt, np.ones(gt.shape[:2], bool), head_boxes=heads)
    for column in TABLE_COLUMNS:
        assert scores[f"pckh_table/{column}"] == pytest.approx(expected[column] / 100, abs=1e-3), column
    assert scores["pckh_table/Mean"] == pytest.approx(math.ceil(n / 2) / n, abs=1e-3)
    assert scores["pckh_table/Mean@0.1"] == 0.0
    plain = PoseMetrics(None, references(validation, "text", "image"), "text", load_pose_metric(), None)  # type: ignore[arg-type]
    assert not any(key.startswith("pckh_table") for key in plain.score_joints(xy))  # only standard builds
    assert not reports_pckh_table({"kind": "sample"}) and reports_pckh_table({"kind": "mpii_standard"})


def test_a_split_without_head_boxes_has_no_pckh_but_one_missing_box_is_an_error():
    """The standard training file has no head boxes (NaN in every row): no PCKh there; a NaN among real boxes is
    still a bad row."""
    rows = {"text": ["head:10,10 rsho:20,20"] * 2, "width": [64, 64], "height": [64, 64]}
    nan = [float("nan")] * 4
    assert references(datasets.Dataset.from_dict({**rows, "head_box": [nan, nan]}), "text", "image").head_boxes is None
    mixed = datasets.Dataset.from_dict({**rows, "head_box": [[1.0, 1.0, 9.0, 9.0], nan]})
    with pytest.raises(ValueError, match=r"row 1 .*no positive width"):
        references(mixed, "text", "image")


@pytest.mark.parametrize("model, words", [("tiny", "Caption format"), ("tiny-vitpose", "Gaussian heatmap")])
def test_runs_on_the_standard_build_report_the_pckh_table(built, tmp_path, model, words):
    _, data = built
    out = tmp_path / "run"
    metrics = load_script("run").main(
        ["training/configs/tiny_test.yaml", "--model_name_or_path", model, "--dataset_name", str(data),
         "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4", "--num_overlays", "1"]
    )  # fmt: skip
    results = json.loads((out / "all_results.json").read_text())
    for key in TABLE_KEYS:
        assert 0.0 <= results[key] <= 1.0 and metrics[key] == results[key], key
    card = (out / "README.md").read_text()
    assert "| Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.1 |" in card
    assert words in card and "standard-protocol files (stick figures, not MPII photos)" in card


@pytest.mark.parametrize("source", ["--download", "--annotations"])
def test_images_that_are_not_a_folder_are_a_one_line_error(tmp_path, capsys, source):
    annotations = write_standard_fixtures(tmp_path / "fixtures")
    argv = ["build-standard", source] + ([str(annotations)] if source == "--annotations" else [])
    argv += ["--images", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")]
    assert cli(argv) == 2
    nowhere = tmp_path / "nowhere"
    assert capsys.readouterr().err.strip() == f"error: --images: {nowhere} is not a folder of MPII's images"
    assert not (tmp_path / "out").exists()


def test_inspect_counts_and_draws_a_standard_build(built, tmp_path, capsys):
    """A standard build has no MPII person index: overlays name the file's entry, decoded with the build's columns."""
    annotations, out = built
    assert cli(["inspect", str(out), "--overlays", "2", "--out", str(tmp_path / "overlays")]) == 0
    printed = capsys.readouterr().out
    validation = datasets.load_dataset(str(out))["validation"]
    assert f"validation {len(validation)}" in printed and "wrote 2 overlay(s)" in printed
    names = sorted(path.name for path in (tmp_path / "overlays").glob("*.png"))
    expected = [f"{i:03d}_{validation[i]['image_name'].rsplit('.', 1)[0]}_{validation[i]['standard_index']}.png"
                for i in range(2)]  # fmt: skip
    assert names == expected
