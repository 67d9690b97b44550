"""Procedural people: reproducible bytes, exact annotations, human joint limits, held-out figures never trained on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from mpii_pose_dataset.cli import main
from mpii_pose_dataset.download import ANNOTATION_FILE
from mpii_pose_dataset.reader import ImageRecord, read_release
from mpii_pose_dataset.stick_figure import JOINT_COLOURS, PROPORTIONS, pose_joints
from mpii_pose_dataset.synthetic import SIZE, build_synthetic, generate, sample_pose

N = 120


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, N, seed=0)
    return out


@pytest.fixture(scope="module")
def records(source: Path) -> list[ImageRecord]:
    return list(read_release(source / ANNOTATION_FILE))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(source: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", N, seed=0)
    generate(tmp_path / "other", N, seed=1)
    first, again, other = _files(source), _files(tmp_path / "again"), _files(tmp_path / "other")
    assert len(first) == N + 2 and first == again  # frames, annotation file, generator record
    assert first[ANNOTATION_FILE] != other[ANNOTATION_FILE]
    assert sum(first[k] != other[k] for k in first) == len(first)


def test_release_has_videos_people_occluders_and_cut_off_figures(records: list[ImageRecord]) -> None:
    assert len(records) == N and all(r.is_train for r in records)
    videos = Counter(r.video_index for r in records)
    assert len(videos) >= N // 5 and max(videos.values()) > 1 and None not in videos
    assert any(len(r.persons) > 1 for r in records)  # multi-person
    assert any(0 < len(p.points) < 16 for r in records for p in r.persons)  # partly out of frame
    assert any(q.visible == 0 for r in records for p in r.persons for q in p.points)  # occluded
    assert all(r.activity == "procedural stick figure" and r.category == "synthetic" for r in records)


def test_joints_sit_on_their_drawn_colours(source: Path, records: list[ImageRecord]) -> None:
    """A visible joint shows its own disc colour and a limb midpoint its limb; an occluded joint does not."""
    colours = np.array(JOINT_COLOURS)
    hits = visible = occluded_elsewhere = occluded = 0
    for r in records:
        with Image.open(source / "images" / r.name) as im:
            assert im.size == (SIZE, SIZE)
            pixels = np.asarray(im.convert("RGB"), dtype=np.int64)
        for p in r.persons:
            for q in p.points:
                assert 0 <= q.x < SIZE and 0 <= q.y < SIZE
                px = pixels[int(q.y), int(q.x)]
                if q.visible == 1:
                    visible += 1
                    hits += int(np.abs(colours - px).sum(1).argmin() == q.id)
                else:
                    occluded += 1
                    occluded_elsewhere += int(np.abs(colours[q.id] - px).max() > 60)
    # Small figures: a hip disc can sit under the pelvis disc, a shoulder under the thorax.
    assert visible > 1000 and hits >= 0.93 * visible
    assert occluded >= 20 and occluded_elsewhere >= 0.9 * occluded


def test_limbs_are_drawn_in_their_side_colours(source: Path, records: list[ImageRecord]) -> None:
    """Midway between knee and ankle lies the leg's colour: red for the right leg, blue for the left."""
    red, blue = np.array((225, 35, 35)), np.array((35, 85, 230))
    checked = hits = 0
    for r in records:
        if len(r.persons) != 1 or len(r.persons[0].points) < 16:
            continue
        pts = {q.id: q for q in r.persons[0].points}
        with Image.open(source / "images" / r.name) as im:
            pixels = np.asarray(im.convert("RGB"), dtype=np.int64)
        for knee, ankle, colour in ((1, 0, red), (4, 5, blue)):
            a, b = pts[knee], pts[ankle]
            if a.visible and b.visible and np.hypot(a.x - b.x, a.y - b.y) > 12:
                checked += 1
                px = pixels[int(round((a.y + b.y) / 2)), int(round((a.x + b.x) / 2))]
                hits += int(np.abs(px - colour).max() < 50)
    assert checked > 50 and hits >= 0.85 * checked


def test_sampled_poses_stay_within_human_joint_limits() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        j = pose_joints(sample_pose(rng), PROPORTIONS)
        for a, b, c, limit in ((2, 1, 0, 140), (3, 4, 5, 140), (12, 11, 10, 150), (13, 14, 15, 150)):
            u, v = j[b] - j[a], j[c] - j[b]
            bend = np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))
            assert bend <= limit + 1e-6


def test_build_keeps_held_out_figures_out_of_training(tmp_path: Path) -> None:
    folder = build_synthetic(tmp_path / "ds", 150, seed=2, num_proc=1)
    ds = load_dataset(str(folder), "video_split")
    train, held_out = set(ds["train"]["video_index"]), set(ds["validation"]["video_index"])
    assert train and held_out and not train & held_out and -1 not in train | held_out
    assert len(ds["validation"]) >= 0.15 * (len(ds["train"]) + len(ds["validation"]))
    report = json.loads((folder / "reports" / "video_split.json").read_text())
    skipped = report["skipped"]
    # Cut-off and multi-person frames only (multi-person frames whose people overlap name no single person).
    assert set(skipped) <= {"missing_joints", "not_single_person", "no_single_person"}
    assert len(ds["train"]) + len(ds["validation"]) + sum(skipped.values()) == 150


def test_cli_builds_synthetic_and_refuses_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--synthetic", "50", "--output", str(tmp_path / "ds"), "--num-proc", "1"]) == 0
    assert "[video_split] examples:" in capsys.readouterr().out
    assert main(["build", "--synthetic", "0", "--output", str(tmp_path / "none")]) == 2
    assert "--synthetic must be 50..100000 frames, got 0" in capsys.readouterr().err
