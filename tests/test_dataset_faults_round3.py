"""Bad inputs of the third round, one class each: an image listed twice, JPEG scan data damaged behind a valid
header, two sources in one folder, zero-size or inverted head boxes, out-of-range synthetic frame counts."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import Dataset, load_dataset
from PIL import Image

import mpii_pose_dataset.export as export
from blip_pose.dataset_source import DATASET_SOURCE_CARD_KEY
from blip_pose.training.arguments import ConfigError, parse_arguments
from blip_pose.training.data import DataError, references
from mpii_pose_dataset.cli import main
from mpii_pose_dataset.image_check import jpeg_reason
from tests._mpii_release import entry, person, picture, pose, simple_release, write


def _jpeg(seed: int = 0, **options) -> bytes:
    buffer = io.BytesIO()
    picture(160, 120, seed).save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def _names(folder: Path, config: str = "paper") -> dict[str, list[str]]:
    ds = load_dataset(str(folder), config)
    return {split: list(ds[split]["image_name"]) for split in ds}


def _build(release: Path, out: Path, **kwargs) -> dict:
    return export.build(out, data_dir=release, num_proc=1, cache_dir=out.parent / "cache", **kwargs)["paper"]


# --- an image listed twice ------------------------------------------------------------------------------------


def test_an_image_listed_twice_is_used_once_and_counted(tmp_path: Path) -> None:
    """The same file under its own name, ``./name``, a symlink, a hard link and a copy: one example, the other
    listings counted skips, so the picture can never sit on both sides of the split."""
    annolist, images = [], {}
    for i in range(10):
        annolist.append(entry(f"{i:09d}.jpg", [person(pose(seed=i))]))
        images[f"{i:09d}.jpg"] = picture(seed=i)
    for alias in ("000000003.jpg", "./000000003.jpg", "link.jpg", "hard.jpg", "copy.jpg"):
        annolist.append(entry(alias, [person(pose(seed=3))]))
    release = write(tmp_path / "release", annolist, images)
    os.symlink(release / "images" / "000000003.jpg", release / "images" / "link.jpg")
    os.link(release / "images" / "000000003.jpg", release / "images" / "hard.jpg")
    (release / "images" / "copy.jpg").write_bytes((release / "images" / "000000003.jpg").read_bytes())
    report = _build(release, tmp_path / "ds")
    assert report["skipped"] == {"duplicate_image": 5}
    names = _names(tmp_path / "ds")
    assert sorted(names["train"] + names["validation"]) == sorted(images)
    assert report["examples"] == {"train": 8, "validation": 2}  # 20 % of the 10 distinct pictures


# --- JPEG scan data damaged behind a valid header --------------------------------------------------------------


def _damaged_variants() -> dict[str, bytes]:
    data = _jpeg()
    mid = len(data) // 2
    sof = data.find(b"\xff\xc0")
    taller = bytearray(data)
    taller[sof + 5 : sof + 7] = (120 * 2).to_bytes(2, "big")  # header claims twice the rows the data holds
    markers = bytearray(data)
    markers[mid : mid + 40] = b"\xff\xd0" * 20  # restart markers where no restart interval is defined
    restart = _jpeg(restart_marker_rows=1)
    return {
        "cut_and_closed": data[:mid] + b"\xff\xd9",
        "taller_header": bytes(taller),
        "stray_markers": bytes(markers),
        "early_end_then_data": data[:mid] + b"\xff\xd9" + data[mid:],
        "restart_interval_cut": restart[: (rst := restart.find(b"\xff\xd2")) - 200] + restart[rst:],  # RST2's run
        "progressive_cut": (p := _jpeg(progressive=True))[: len(p) * 2 // 3] + b"\xff\xd9",
    }


@pytest.mark.parametrize("variant", sorted(_damaged_variants()))
def test_damaged_scan_data_is_detected(variant: str) -> None:
    damaged = _damaged_variants()[variant]
    with Image.open(io.BytesIO(damaged)) as image:
        image.load()  # PIL alone accepts it (grey fill): the reason for the check
    assert jpeg_reason(damaged) == "damaged_image_data"


@pytest.mark.parametrize(
    "options", [{}, {"progressive": True}, {"subsampling": "4:4:4"}, {"optimize": True}, {"restart_marker_rows": 1}]
)
def test_healthy_jpegs_pass(options: dict) -> None:
    assert jpeg_reason(_jpeg(seed=5, **options)) is None


def test_damaged_files_are_counted_skips_decided_before_the_split(tmp_path: Path) -> None:
    variants = _damaged_variants()
    annolist, images = [], {}
    for i in range(10):
        annolist.append(entry(f"{i:09d}.jpg", [person(pose(seed=i))]))
        images[f"{i:09d}.jpg"] = picture(seed=i)
    for name, data in variants.items():
        annolist.append(entry(f"{name}.jpg", [person(pose(seed=1))]))
        images[f"{name}.jpg"] = data
    annolist.append(entry("cut.jpg", [person(pose(seed=2))]))
    images["cut.jpg"] = _jpeg()[:900]  # no end marker at all: PIL's own truncation error
    png = io.BytesIO()
    picture(seed=2).save(png, "PNG")
    annolist.append(entry("cut.png", [person(pose(seed=2))]))
    images["cut.png"] = png.getvalue()[: len(png.getvalue()) // 2]  # a valid header, half the pixel data
    report = _build(write(tmp_path / "release", annolist, images), tmp_path / "ds")
    assert report["skipped"] == {"damaged_image_data": len(variants), "corrupt_image": 2}
    assert report["examples"] == {"train": 8, "validation": 2}  # the split is drawn over the 10 usable files


# --- two sources in one folder --------------------------------------------------------------------------------


def _card_sources(folder: Path) -> dict:
    header = (folder / "README.md").read_text().split("---")[1]
    return yaml.safe_load(header)[DATASET_SOURCE_CARD_KEY]


def test_a_second_source_is_refused_unless_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = simple_release(tmp_path / "a", n=10, videos=5)
    second = simple_release(tmp_path / "b", n=12, videos=6)
    out = tmp_path / "ds"
    common = ["--output", str(out), "--num-proc", "1", "--cache-dir", str(tmp_path / "cache")]
    assert main(["build", "--mpii-dir", str(first), *common]) == 0
    source = _card_sources(out)["paper"]
    assert source["kind"] == "mpii" and source["annotation_file"] == "mpii_human_pose_v1_u12_1.mat"
    assert len(source["annotation_sha256"]) == 64
    capsys.readouterr()
    before = (out / "README.md").read_text()

    assert main(["build", "--mpii-dir", str(second), "--config", "video_split", *common]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "paper" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "README.md").read_text() == before and not (out / "data" / "video_split").exists()

    assert main(["build", "--mpii-dir", str(first), "--config", "video_split", *common]) == 0  # same file: added
    assert set(_card_sources(out)) == {"paper", "video_split"}

    assert main(["build", "--mpii-dir", str(second), "--config", "video_split", "--overwrite", *common]) == 0
    sources = _card_sources(out)
    assert (
        set(sources) == {"video_split"} and sources["video_split"]["annotation_sha256"] != source["annotation_sha256"]
    )
    assert sorted(p.name for p in (out / "data").iterdir()) == ["video_split"]


# --- head boxes -----------------------------------------------------------------------------------------------


def test_zero_size_and_inverted_head_boxes_are_counted_skips(tmp_path: Path) -> None:
    annolist, images = [], {}
    for i in range(10):
        annolist.append(entry(f"{i:09d}.jpg", [person(pose(seed=i))]))
        images[f"{i:09d}.jpg"] = picture(seed=i)
    for name, head in (("zero", (20, 20, 20, 20)), ("flat", (20, 20, 30, 20)), ("inverted", (30, 30, 20, 20))):
        annolist.append(entry(f"{name}.jpg", [person(pose(seed=1), head=head)]))
        images[f"{name}.jpg"] = picture(seed=1)
    report = _build(write(tmp_path / "release", annolist, images), tmp_path / "ds")
    assert report["skipped"] == {"bad_head_box": 3}
    assert sum(report["examples"].values()) == 10


@pytest.mark.parametrize("box", [[5.0, 5.0, 5.0, 5.0], [9.0, 9.0, 4.0, 4.0], [1.0, 1.0, float("nan"), 4.0]])
def test_training_refuses_a_reference_with_a_broken_head_box(box: list[float]) -> None:
    """A dataset built elsewhere may carry one: refused up front, naming split and row, not at the first evaluation."""
    caption = "upper_neck:5,5"
    good = [1.0, 1.0, 4.0, 4.0]
    data = Dataset.from_dict(
        {
            "text": [caption] * 3,
            "width": [16, 16, 16],
            "height": [16, 16, 16],
            "image_name": ["a.jpg", "b.jpg", "c.jpg"],
            "head_box": [good, box, good],
        }
    )
    with pytest.raises(DataError, match=r"^split 'validation', row 1 \(b\.jpg\): head_box .* no positive width"):
        references(data, "text", "image", split="validation")
    assert np.isfinite(references(data.select([0, 2]), "text", "image").head_boxes).all()


# --- synthetic frame counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["0", "-5", "1", "49", str(10**9)])
def test_training_bounds_synthetic_size_before_any_work(size: str) -> None:
    argv = ["--dataset_name", "synthetic", "--synthetic_size", size, "--output_dir", "/nonexistent/never-made"]
    with pytest.raises(ConfigError, match=rf"--synthetic_size must be 50\.\.100000 frames, got {size}\b.*memory"):
        parse_arguments(argv)


@pytest.mark.parametrize("size", ["1", "-1", str(10**9)])
def test_cli_bounds_synthetic_before_drawing(size, tmp_path, monkeypatch, capsys) -> None:
    import mpii_pose_dataset.synthetic as synthetic

    def never(*args, **kwargs):
        raise AssertionError("frames drawn before the bound was checked")

    monkeypatch.setattr(synthetic, "generate", never)
    assert main(["build", "--synthetic", size, "--output", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --synthetic must be 50..100000 frames, got {size}") and len(err.splitlines()) == 1
    assert not (tmp_path / "ds").exists()


def test_help_states_the_bound_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "50..100000 frames" in text and "memory" in text
    with pytest.raises(SystemExit):
        parse_arguments(["--help"])
    assert "50..100000 frames" in " ".join(capsys.readouterr().out.split())
