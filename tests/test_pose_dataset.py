"""The generic build core (``pose_dataset``): the keypoint set in the card, a source format registered from outside
the project's packages, the registries' lookups."""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard
from PIL import Image

from blip_pose.keypoints import KEYPOINTS_CARD_KEY, KeypointSpec
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import render_captions
from blip_pose.training.data import dataset_keypoints
from mpii_pose_dataset.export import build as build_mpii
from mpii_pose_dataset.sample import SAMPLE_DIR
from pose_dataset import CardText, SourceRead, get_source, register_offline, register_source, resolve_dataset
from pose_dataset.export import build, load_reports
from pose_dataset.push import check_folder
from pose_dataset.registry import format_of


def _card_yaml(folder: Path) -> dict:
    return DatasetCard.load(folder / "README.md").data.to_dict()


def test_an_mpii_build_records_its_keypoint_set_in_the_card(tmp_path):
    out = tmp_path / "ds"
    build_mpii(out, data_dir=SAMPLE_DIR, num_proc=1, cache_dir=tmp_path / "cache")
    recorded = _card_yaml(out)[KEYPOINTS_CARD_KEY]
    assert KeypointSpec.from_dict(recorded["paper"]) == MPII16  # per config, keyed like the recipe
    assert load_reports(out)["paper"]["format"] == "mpii"


# --- a toy source format, defined here alone: five points in a CSV file ------------------------------------------

TOY = KeypointSpec(
    name="toy5",
    names=("tip", "left wing", "right wing", "left foot", "right foot"),
    captions=("tip", "lwing", "rwing", "lfoot", "rfoot"),
    skeleton=((0, 1), (0, 2), (0, 3), (0, 4)),
    flip_pairs=((2, 1), (4, 3)),
)
SIZE = 64


def _caption(points: np.ndarray) -> str:
    """``tip:12,40 lwing:…``: the project's caption for the toy set (pose_format renders any keypoint set)."""
    return render_captions(points, np.ones(len(points)), SIZE, SIZE, spec=TOY)["text"]


def _write_source(folder: Path, n: int = 10) -> Path:
    """``n`` grey squares with five random points each, listed in ``points.csv`` (name, x0, y0, …, x4, y4)."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    with (folder / "points.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        for i in range(n):
            name = f"{i:03d}.png"
            Image.new("RGB", (SIZE, SIZE), (i * 20, 90, 90)).save(folder / name)
            writer.writerow([name, *rng.uniform(0, SIZE - 1, size=2 * TOY.num_keypoints).round(1)])
    return folder


class ToyBuilder(datasets.GeneratorBasedBuilder):
    """Every even row to train, every odd one to validation."""

    VERSION = datasets.Version("0.0.1")

    def __init__(self, *args: Any, source_dir: Path, **kwargs: Any) -> None:
        self.source_dir = source_dir
        super().__init__(*args, dataset_name="toy_points", **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        point = datasets.Sequence(datasets.Value("float32"), length=2)
        return datasets.DatasetInfo(
            features=datasets.Features(
                {
                    "image": datasets.Image(),
                    "joint_points": datasets.Sequence(point, length=TOY.num_keypoints),
                    "text": datasets.Value("string"),
                }
            )
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        return [datasets.SplitGenerator(name=s, gen_kwargs={"parity": p}) for s, p in (("train", 0), ("validation", 1))]

    def _generate_examples(self, parity: int) -> Iterator[tuple[int, dict]]:
        with (self.source_dir / "points.csv").open() as handle:
            for i, row in enumerate(csv.reader(handle)):
                if i % 2 == parity:
                    points = np.array(row[1:], dtype=float).reshape(-1, 2)
                    image = str(self.source_dir / row[0])
                    yield i, {"image": image, "joint_points": points.tolist(), "text": _caption(points)}


class ToyCsvFormat:
    name = "toy-csv"
    configs = ("points", "more")
    default_config = "points"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--csv-dir")

    def source(self, data_dir: Path) -> dict[str, Any]:
        digest = hashlib.sha256((data_dir / "points.csv").read_bytes()).hexdigest()
        return {"kind": "csv", "annotation_file": "points.csv", "annotation_sha256": digest}

    def read(
        self, config: str, data_dir: Path | None, work_dir: Path, cache_dir: Path | None, overrides: dict[str, Any]
    ) -> SourceRead:
        assert data_dir is not None
        builder = ToyBuilder(config_name=config, source_dir=data_dir, cache_dir=str(cache_dir))

        def report() -> dict[str, Any]:
            examples = {split: info.num_examples for split, info in builder.info.splits.items()}
            recipe = {"mode": "resize", "image_size": SIZE}
            return {
                "examples": examples,
                "skipped": {},
                "unit": "image",
                "recipe": recipe,
                "source": self.source(data_dir),
            }

        return SourceRead(builder, TOY, report)

    def card(self, reports: dict[str, dict]) -> CardText:
        return CardText({"pretty_name": "Toy points", "license": "mit"}, "\n# Toy points\n\nFive points per square.\n")


@pytest.fixture(scope="module")
def toy_format() -> ToyCsvFormat:
    return register_source(ToyCsvFormat(), replace=True)  # type: ignore[return-value]


def test_a_source_format_from_outside_the_packages_builds_a_loadable_dataset(toy_format, tmp_path):
    source = _write_source(tmp_path / "toy")
    out = tmp_path / "built"
    parser = argparse.ArgumentParser()
    toy_format.add_arguments(parser)
    args = parser.parse_args(["--csv-dir", str(source)])
    reports = build(out, toy_format, data_dir=args.csv_dir, cache_dir=tmp_path / "cache")
    assert reports["points"]["examples"] == {"train": 5, "validation": 5}

    ds = load_dataset(str(out))
    assert ds["train"].num_rows == 5 and ds["validation"].num_rows == 5
    row = ds["validation"][0]
    assert np.array(row["joint_points"]).shape == (5, 2)
    assert row["text"] == _caption(np.array(row["joint_points"]))
    assert row["text"].startswith("tip:") and "rfoot:" in row["text"]

    card = _card_yaml(out)
    assert KeypointSpec.from_dict(card[KEYPOINTS_CARD_KEY]["points"]) == TOY
    assert dataset_keypoints(ds["train"], str(out)) == TOY  # what training reads back from the card
    assert card["pose_dataset_source"]["points"]["kind"] == "csv"
    assert card["pretty_name"] == "Toy points"
    assert "Five points per square." in (out / "README.md").read_text()
    assert format_of(load_reports(out)) is toy_format
    check_folder(out)  # the push check re-renders the card through the registered format


def test_the_core_keeps_one_source_per_folder_for_any_format(toy_format, tmp_path):
    first = _write_source(tmp_path / "a")
    out = tmp_path / "built"
    build(out, toy_format, data_dir=first, cache_dir=tmp_path / "cache")
    other = _write_source(tmp_path / "b", n=12)
    with pytest.raises(
        ValueError, match="config.s. points were built from csv `points.csv`.*one folder holds one source"
    ):
        build(out, toy_format, data_dir=other, configs=["more"], cache_dir=tmp_path / "cache")
    build(out, toy_format, data_dir=other, configs=["more"], cache_dir=tmp_path / "cache", overwrite=True)
    assert sorted(load_reports(out)) == ["more"]  # the other source's config was dropped


def test_registries_find_built_in_formats_and_offline_names(tmp_path):
    assert get_source("mpii").default_config == "paper"
    assert format_of({"paper": {}}).name == "mpii"  # reports from before the format was recorded
    with pytest.raises(ValueError, match="unknown source format 'nope'"):
        get_source("nope")
    assert resolve_dataset("someone/hub-dataset", None, tmp_path) == "someone/hub-dataset"
    calls = []

    def offline(config: str | None, work_dir: Path, size: int, seed: int) -> str:
        calls.append((config, work_dir, size, seed))
        return str(work_dir / "toy")

    register_offline("toy-offline", offline)
    assert resolve_dataset("toy-offline", "points", tmp_path, 3, 4) == str(tmp_path / "toy")
    assert calls == [("points", tmp_path, 3, 4)]
