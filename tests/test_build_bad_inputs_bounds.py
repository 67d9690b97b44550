"""Inputs checked before they are trusted: FIFOs never opened, crop sizes bounded, splits drawn over good files,
an empty split refused by build and push."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

import mpii_pose_dataset.export as export
from blip_pose.geometry import CropTooLargeError, Preprocessing
from blip_pose.images import ImageError, open_image
from mpii_pose_dataset.cli import main
from pose_dataset.staging import MARKER
from tests._mpii_release import entry, person, picture, pose, simple_release, write


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("err", pytest.raises(ImageError, open_image, fifo)))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "open_image blocked on a FIFO"
    assert result["err"].value.reason == "not_a_regular_file"


def test_a_fifo_in_images_is_a_counted_skip(tmp_path):
    root = simple_release(tmp_path / "r", n=10)
    (root / "images" / "000000003.jpg").unlink()
    os.mkfifo(root / "images" / "000000003.jpg")
    reports = export.build(tmp_path / "ds", data_dir=root, num_proc=1, cache_dir=tmp_path / "cache")
    assert reports["paper"]["skipped"]["not_a_regular_file"] == 1
    assert sum(reports["paper"]["examples"].values()) == 9


def test_crop_boxes_are_bounded_relative_to_the_image():
    pre = Preprocessing("crop", 64)
    assert pre.transform(640, 480, (320, 240), 3.0).box[0] < 0  # a person larger than the frame: allowed
    for center, scale in [((320, 240), 375.0), ((1e9, 240), 1.0), ((320, 240), 1e9)]:
        with pytest.raises(CropTooLargeError, match="640x480"):
            pre.transform(640, 480, center, scale)


def test_a_huge_person_scale_is_a_counted_skip(tmp_path):
    annolist, images = [], {}
    for i in range(6):
        name = f"{i:09d}.jpg"
        scale = 375.0 if i == 0 else 0.3  # 375 * 200 * 1.25 px: the 75000 px crop that allocated a 75000² canvas
        annolist.append(entry(name, [person(pose(seed=i), scale=scale)]))
        images[name] = picture(seed=i)
    root = write(tmp_path / "r", annolist, images)
    reports = export.build(
        tmp_path / "ds", data_dir=root, configs=["person_crop"], num_proc=1, cache_dir=tmp_path / "c"
    )
    report = reports["person_crop"]
    assert report["skipped"].get("crop_too_large") == 1
    assert sum(report["examples"].values()) == 5


def test_zero_byte_images_never_get_a_split_and_an_empty_split_is_an_error(tmp_path, capsys):
    root = simple_release(tmp_path / "r", n=6)
    for path in (root / "images").iterdir():
        path.write_bytes(b"")
    out = tmp_path / "ds"
    code = main(["build", "--mpii-dir", str(root), "--output", str(out), "--num-proc", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "cannot make a train and a validation split from 0 group(s)" in err and "not_an_image 6" in err
    assert not out.exists()


def test_one_bad_file_among_few_moves_the_split_not_empties_it(tmp_path):
    root = simple_release(tmp_path / "r", n=5)
    for name in ("000000000.jpg", "000000001.jpg", "000000002.jpg"):
        (root / "images" / name).write_bytes(b"")
    reports = export.build(tmp_path / "ds", data_dir=root, num_proc=1, cache_dir=tmp_path / "c")
    assert reports["paper"]["examples"] == {"train": 1, "validation": 1}


@pytest.fixture
def built(tmp_path):
    root = simple_release(tmp_path / "r", n=8)
    out = tmp_path / "ds"
    export.build(out, data_dir=root, num_proc=1, cache_dir=tmp_path / "c")
    return out


def _push(folder, capsys):
    code = main(["push", str(folder), "--repo-id", "user/x"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err


def test_push_refuses_a_folder_without_our_marker(built, capsys):
    (built / MARKER).unlink()
    assert MARKER in _push(built, capsys)


def test_push_refuses_a_card_that_does_not_match_the_reports(built, capsys):
    card = built / "README.md"
    card.write_text(card.read_text().replace("num_examples: 6", "num_examples: 7"))
    assert "does not match the build reports" in _push(built, capsys)


def test_push_refuses_an_empty_split(built, capsys):
    report = built / "reports" / "paper.json"

    data = json.loads(report.read_text())
    for f in (built / "data" / "paper").glob("validation-*"):
        f.unlink()
    data["examples"]["validation"] = 0
    report.write_text(json.dumps(data))
    assert "validation split is empty" in _push(built, capsys)


def test_a_box_of_1e9_px_is_refused_before_any_canvas_is_made():
    pre = Preprocessing("crop", 32)
    with pytest.raises(CropTooLargeError):
        pre.transform(100, 80, (5e8, 5e8), 1e9 / 200)
    assert np.isfinite(pre.transform(100, 80, (50, 40), 0.4).box).all()


def test_a_split_emptied_by_decode_failures_is_an_error_naming_it(tmp_path, capsys):
    root = simple_release(tmp_path / "r", n=4)
    for path in (root / "images").iterdir():
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # the header parses, the pixels do not
    out = tmp_path / "ds"
    code = main(["build", "--mpii-dir", str(root), "--output", str(out), "--num-proc", "1"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]  # the rest: tqdm bars
    assert code == 2 and len(errors) == 1 and "Traceback" not in err
    # Files are decoded before the split is drawn, so the error comes from the split itself, with the counts.
    assert "cannot make a train and a validation split from 0 group(s)" in err and "corrupt_image 4" in err
    assert not out.exists()
