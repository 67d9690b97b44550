"""Every bad input of a build: a clear error naming the file, or a counted skip; never a wrong label."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.io
from _mpii_release import W, entry, person, picture, pose, simple_release, write
from datasets import load_dataset
from PIL import Image

from blip_pose.geometry import MATLAB_ORIGIN, BoxTransform
from mpii_pose_dataset.cli import main
from mpii_pose_dataset.export import build
from mpii_pose_dataset.reader import MPIIFormatError


def _jpeg(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def _rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    return _jpeg(picture(seed=9), exif=exif)


def _release_with_bad_images(root):
    good = _jpeg(picture(seed=1))
    rgba = picture(seed=2).convert("RGBA")
    rgba.putalpha(128)
    images = {
        "good.jpg": good,
        "good2.jpg": _jpeg(picture(seed=3)),
        "gray.jpg": picture(seed=4).convert("L"),
        "cmyk.jpg": picture(seed=5).convert("CMYK"),
        "rgba.png": rgba,
        "palette.png": picture(seed=6).convert("P"),
        "corrupt.jpg": b"this is not a jpeg at all" * 10,
        "truncated.jpg": good[: len(good) // 2],
        "rotated.jpg": _rotated_jpeg(),
        "outside.jpg": _jpeg(picture(seed=10)),  # its own bytes: a copy of good.jpg would be a duplicate_image
    }
    annolist = [entry(name, [person(pose(seed=k))]) for k, name in enumerate(images)]
    annolist.append(entry("missing.jpg", [person(pose(seed=20))]))
    outside = pose(seed=21)
    outside[3, 0] = W + 4  # left hip beyond the right border
    annolist[list(images).index("outside.jpg")] = entry("outside.jpg", [person(outside)])
    bad_joint = person(pose(seed=22))
    bad_joint["annopoints"]["point"][0]["id"] = 20  # no such MPII joint: unreadable entry
    annolist.append(entry("good.jpg", [bad_joint]))
    return write(root, annolist, images)


def test_bad_images_are_counted_or_converted_never_mislabelled(tmp_path):
    root = _release_with_bad_images(tmp_path / "mpii")
    reports = build(tmp_path / "out", data_dir=root, num_proc=1, cache_dir=tmp_path / "cache")
    report = reports["paper"]
    assert report["skipped"] == {
        "corrupt_image": 1,
        "exif_orientation": 1,
        "joint_outside_image": 1,
        "malformed_annotation": 1,
        "missing_image": 1,
        "not_an_image": 1,
    }
    assert "annolist(12)" in report["malformed_annotation_messages"][0]
    assert sum(report["examples"].values()) == 6  # good, good2, gray, cmyk, rgba, palette
    ds = load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "hf"))
    seen = set()
    for split in ds.values():
        for ex in split:
            seen.add(ex["image_name"])
            assert ex["image"].mode == "RGB"
            expected = pose(seed=ex["mpii_index"]) - [MATLAB_ORIGIN, MATLAB_ORIGIN, 0]  # the file is 1-based
            back = BoxTransform(tuple(ex["crop_box"]), 384, 384).inverse(np.asarray(ex["joint_points"]))
            np.testing.assert_allclose(back, expected, atol=0.01)
    assert seen == {"good.jpg", "good2.jpg", "gray.jpg", "cmyk.jpg", "rgba.png", "palette.png"}
    # The transparent image was composited on white, not on black.
    rgba = next(ex for split in ds.values() for ex in split if ex["image_name"] == "rgba.png")
    assert np.asarray(rgba["image"]).mean() > 100


def test_decompression_bomb_is_counted(tmp_path, monkeypatch):
    root = write(
        tmp_path / "mpii",
        [
            entry("small.jpg", [person(pose(seed=0))]),
            entry("small2.jpg", [person(pose(seed=1))]),
            entry("huge.jpg", [person(pose(400, 300, seed=2))]),
        ],
        {"small.jpg": picture(seed=0), "small2.jpg": picture(seed=1), "huge.jpg": picture(400, 300)},
    )
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)  # huge.jpg has 120 000 pixels, the others 6 912
    report = build(tmp_path / "out", data_dir=root, num_proc=1, cache_dir=tmp_path / "c")["paper"]
    assert report["skipped"] == {"decompression_bomb": 1}
    assert sum(report["examples"].values()) == 2


@pytest.mark.parametrize("name", ["../escape.jpg", "sub/../../escape.jpg", "/etc/hostname"])
def test_unsafe_image_names_are_refused_before_anything_is_written(tmp_path, name):
    root = simple_release(tmp_path / "mpii", n=4)
    (tmp_path / "escape.jpg").write_bytes(_jpeg(picture()))
    annolist = [entry(f"{i:09d}.jpg", [person(pose(seed=i))]) for i in range(4)] + [entry(name, [person(pose())])]
    write(root, annolist, {})
    with pytest.raises(ValueError, match=r"image 4 \(annolist\(5\)\) has the unsafe name") as err:
        build(tmp_path / "out", data_dir=root, num_proc=1, cache_dir=tmp_path / "c")
    assert "mpii_human_pose_v1_u12_1.mat" in str(err.value) and name in str(err.value)
    assert not (tmp_path / "out" / "data").exists()


def test_missing_folder_and_mat(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="MPII folder not found"):
        build(tmp_path / "out", data_dir=tmp_path / "nowhere", num_proc=1)
    (tmp_path / "empty" / "images").mkdir(parents=True)
    assert (
        main(["build", "--mpii-dir", str(tmp_path / "empty"), "--output", str(tmp_path / "o"), "--num-proc", "1"]) == 2
    )
    assert "no MPII annotation file" in capsys.readouterr().err


def test_unreadable_mat_and_mat_without_release(tmp_path):
    bad = tmp_path / "garbage"
    (bad / "images").mkdir(parents=True)
    (bad / "mpii_human_pose_v1_u12_1.mat").write_bytes(b"\x00not a matlab file" * 50)
    with pytest.raises(MPIIFormatError, match="mpii_human_pose_v1_u12_1.mat: not a readable MATLAB"):
        build(tmp_path / "out", data_dir=bad, num_proc=1, cache_dir=tmp_path / "c")
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    scipy.io.savemat(other / "mpii_human_pose_v1_u12_1.mat", {"something_else": np.zeros(3)})
    with pytest.raises(MPIIFormatError, match="no RELEASE variable"):
        build(tmp_path / "out", data_dir=other, num_proc=1, cache_dir=tmp_path / "c")


def test_joint_outside_person_crop_is_counted(tmp_path):
    points = pose(seed=5)
    far = points.copy()
    far[0] = (2, 2, 1)  # still inside the image, but far outside a small crop around the centre
    root = write(
        tmp_path / "mpii",
        [
            entry("a.jpg", [person(points, scale=0.35), person(far, scale=0.1)]),
            entry("b.jpg", [person(pose(seed=6), scale=0.35)]),
        ],
        {"a.jpg": picture(), "b.jpg": picture(seed=1)},
    )
    report = build(tmp_path / "out", data_dir=root, configs=["person_crop"], num_proc=1, cache_dir=tmp_path / "c")[
        "person_crop"
    ]
    assert report["skipped"] == {"joint_outside_crop": 1} and report["unit"] == "person"
    assert sum(report["examples"].values()) == 2
