"""The ``mpii_pose_caption`` dataset: a ``datasets.GeneratorBasedBuilder`` over an MPII Human Pose release.

``datasets`` >= 4 refuses loading scripts, so this builder lives in the package and ``python -m mpii_pose_dataset
build`` runs it and writes the Hub layout (parquet + dataset card) that ``load_dataset`` reads natively. It can
also be used directly::

    builder = MpiiPoseCaption(config_name="paper", data_dir="~/data/mpii")
    builder.download_and_prepare()
    ds = builder.as_dataset()

Configs: ``paper`` (default; the published method), ``video_split`` (the paper's filters, split by video),
``person_crop`` (one example per person, square crop around objpos). Without ``data_dir`` the official archives
are downloaded through the builder's download manager.

``_split_generators`` reads the annotation file once, admits persons, checks each admitted file's type and image
header and decodes it (:func:`~mpii_pose_dataset.examples.probe_reason`), uses an image file listed twice only
once (its first admitted listing; later ones count as ``duplicate_image``, so one picture never sits on both sides),
assigns splits over what passed, and writes the admitted records as JSON-lines shard
files to ``work_dir``; ``_generate_examples`` streams one shard file at a time, so no process holds the whole
release and ``num_proc`` workers share the shards.
Reasons for skipped candidates are written as small JSON files to ``work_dir`` too (worker processes cannot
return them otherwise) and summed by :func:`read_build_report`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import datasets

from blip_pose.geometry import COORDINATES, Preprocessing
from blip_pose.images import safe_join
from blip_pose.keypoints.mpii import MPII16
from mpii_pose_dataset.download import download_release, find_annotations, find_images
from mpii_pose_dataset.examples import (
    ExampleSettings,
    admit,
    check_name,
    defaulted_flags,
    file_identity,
    make_examples,
    probe_reason,
    record_from_json,
    record_to_json,
    selection,
)
from mpii_pose_dataset.features import FEATURES
from mpii_pose_dataset.reader import read_release
from mpii_pose_dataset.source import release_source
from mpii_pose_dataset.splits import SPLIT_BY, group_key, validation_groups
from pose_dataset.card import SPLITS

DATASET_NAME = "mpii_pose_caption"
HOMEPAGE = "http://human-pose.mpi-inf.mpg.de/"
CITATION = """@inproceedings{andriluka14cvpr,
  author = {Mykhaylo Andriluka and Leonid Pishchulin and Peter Gehler and Bernt Schiele},
  title = {2D Human Pose Estimation: New Benchmark and State of the Art Analysis},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2014},
  month = {June}
}"""
PLAN_REPORT = "plan.json"


@dataclass
class MpiiPoseCaptionConfig(datasets.BuilderConfig):
    """A preprocessing + filtering + split recipe. ``data_dir``: the MPII folder (``.mat`` and ``images/``)."""

    mode: str = "resize"  # "resize": whole image stretched to image_size²; "crop": square around the person
    split_by: str = "image"  # "image": random split of images; "video": all frames of a video on one side
    single_person: bool = True  # keep the one person MPII's single_person names (annolist-only: one annorect)
    image_size: int = 384
    seed: int = 42
    validation_ratio: float = 0.2
    simple_joints: tuple[str, ...] = MPII16.default_simple_joints
    crop_padding: float = 1.25  # crop side = 200 * scale * crop_padding original pixels
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Refuse bad field values up front (datasets sets overrides after __post_init__, so builders call this)."""
        self.simple_joints = tuple(self.simple_joints)
        MPII16.ids(self.simple_joints)  # unknown names raise here, not in the middle of a build
        Preprocessing(self.mode, self.image_size, self.crop_padding)  # validates mode and sizes
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {SPLIT_BY}, got {self.split_by!r}")
        if not 0 < self.validation_ratio < 1:
            raise ValueError(f"validation_ratio must be between 0 and 1 (exclusive), got {self.validation_ratio}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {self.jpeg_quality}")

    @property
    def settings(self) -> ExampleSettings:
        return ExampleSettings(
            self.mode, self.image_size, self.crop_padding, self.simple_joints, self.jpeg_quality, self.single_person
        )

    def recipe(self) -> dict:
        """The fields that define the examples (for the card and the build report)."""
        fields = (
            "mode",
            "split_by",
            "single_person",
            "image_size",
            "seed",
            "validation_ratio",
            "simple_joints",
            "crop_padding",
            "jpeg_quality",
        )
        recipe = {f: list(v) if isinstance(v := getattr(self, f), tuple) else v for f in fields}
        return {**recipe, "coordinates": COORDINATES}


CONFIG_DESCRIPTIONS = {
    "paper": "The published method's data: images whose MPII single_person list names exactly one person, that "
    "person with all 16 joints (other people in the image are ignored), the whole image resized to 384×384 (aspect "
    "not kept), a random 80/20 image split with seed 42.",
    "video_split": "The paper's filters and preprocessing, but split 80/20 by video so that no frame of one video "
    "is on both sides (images without a video index are their own group).",
    "person_crop": "Every annotated training person with all 16 joints inside the crop (multi-person images "
    "admitted), a square of side 200·scale·1.25 around objpos resized to 384×384 (aspect kept), split by image.",
}


class MpiiPoseCaption(datasets.GeneratorBasedBuilder):
    """MPII Human Pose as pose captions (see the module docstring)."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = MpiiPoseCaptionConfig
    BUILDER_CONFIGS = [
        MpiiPoseCaptionConfig(name="paper", version=VERSION, description=CONFIG_DESCRIPTIONS["paper"]),
        MpiiPoseCaptionConfig(
            name="video_split", version=VERSION, description=CONFIG_DESCRIPTIONS["video_split"], split_by="video"
        ),
        MpiiPoseCaptionConfig(
            name="person_crop",
            version=VERSION,
            description=CONFIG_DESCRIPTIONS["person_crop"],
            mode="crop",
            single_person=False,
        ),
    ]
    DEFAULT_CONFIG_NAME = "paper"
    #: Shards per split: the units ``num_proc`` workers share out.
    NUM_SHARDS = 16

    def __init__(self, *args: Any, work_dir: str | Path | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("dataset_name", DATASET_NAME)
        super().__init__(*args, **kwargs)
        self.config.validate()
        # The caller's folder only ever gets a fresh subfolder per preparation: its other contents are not ours.
        self._work_root = Path(work_dir) if work_dir is not None else None
        self._build_dir: Path | None = None

    @property
    def work_dir(self) -> Path:
        """Shard files and skip counts of the last preparation: a folder this builder made (under ``work_dir``)."""
        if self._build_dir is None:
            raise RuntimeError("the builder has not prepared anything yet (call download_and_prepare first)")
        return self._build_dir

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.config.description or "",
            features=FEATURES,
            homepage=HOMEPAGE,
            citation=CITATION,
            license="MPII Human Pose: annotations free for research, no commercial use (see the dataset card)",
        )

    def _locate(self, dl_manager: datasets.DownloadManager) -> tuple[Path, Path]:
        if self.config.data_dir:
            root = Path(self.config.data_dir).expanduser()
            return find_annotations(root), find_images(root)
        return download_release(dl_manager)

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        mat_path, images_dir = self._locate(dl_manager)
        config: MpiiPoseCaptionConfig = self.config
        if self._build_dir is not None:  # only the builder's own folder from an earlier preparation
            shutil.rmtree(self._build_dir, ignore_errors=True)
        if self._work_root is not None:
            self._work_root.mkdir(parents=True, exist_ok=True)
        # A new folder each time, so nothing from an earlier preparation is counted.
        self._build_dir = Path(tempfile.mkdtemp(prefix="mpii_pose_caption_build_", dir=self._work_root))
        (self.work_dir / "shards").mkdir()
        release = read_release(mat_path, errors="skip")
        skips: Counter = Counter()
        visibility_defaulted = 0
        plan: list[tuple[int, object]] = []  # (persons admitted, split group) per admitted image
        seen: set[object] = set()  # the files already admitted (an image listed twice is used once)
        admitted_file = self.work_dir / "admitted.jsonl"
        with admitted_file.open("w") as admitted:
            for record in release:
                path = check_name(record, images_dir, mat_path)  # an unsafe name anywhere is refused, used or not
                persons = admit(record, config.settings, skips)
                identity = file_identity(path) if persons else None
                reason = None if not persons else "duplicate_image" if identity in seen else probe_reason(path)
                if reason is None and persons:
                    seen.add(identity)
                if reason is not None:  # splits are drawn only over files that can be images
                    skips[reason] += len(persons)
                elif persons:
                    visibility_defaulted += defaulted_flags(record, persons)
                    admitted.write(record_to_json(record, persons) + "\n")
                    plan.append((len(persons), group_key(config.split_by, record.index, record.video_index)))
        if release.skipped:
            skips["malformed_annotation"] += len(release.skipped)
        report = {
            "annotation_file": str(mat_path),
            "source": release_source(mat_path),
            "images": len(release),
            "unit": "image" if config.mode == "resize" else "person",
            "skipped": dict(skips),
            "selection": selection(config.settings, "single_person" in release.fields),
            # Joints of admitted candidates whose empty is_visible was read as visible (1), as the method did.
            "visibility_defaulted": visibility_defaulted,
            "malformed_annotation_messages": [message for _, message in release.skipped][:100],
            "recipe": config.recipe(),
        }
        (self.work_dir / PLAN_REPORT).write_text(json.dumps(report, indent=2))
        try:
            validation = validation_groups(((g, n) for n, g in plan), config.validation_ratio, config.seed)
        except ValueError as err:  # too few usable files: say why they were not usable
            counts = ", ".join(f"{reason} {n}" for reason, n in sorted(skips.items())) or "none"
            raise ValueError(f"config {config.name!r}: {err} (skipped {report['unit']}s: {counts})") from None
        in_validation = [g in validation for _, g in plan]
        del release, plan  # the parsed .mat is the biggest object of a build: free it before the images
        shards = self._write_shards(admitted_file, in_validation)
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={
                    "shards": shards[split],
                    "split": split,
                    "images_dir": str(images_dir),
                    "work_dir": str(self.work_dir),
                },
            )
            for split in SPLITS
        ]

    def _write_shards(self, admitted_file: Path, in_validation: list[bool]) -> dict[str, list[str]]:
        """Deal the admitted records into at most NUM_SHARDS contiguous JSON-lines files per split."""
        counts = {"validation": sum(in_validation)}
        counts["train"] = len(in_validation) - counts["validation"]
        per_shard = {split: max(1, -(-n // self.NUM_SHARDS)) for split, n in counts.items()}
        paths: dict[str, list[str]] = {split: [] for split in SPLITS}
        seen = {split: 0 for split in counts}
        handles: dict[str, TextIO] = {}
        with admitted_file.open() as lines:
            for line, valid in zip(lines, in_validation):
                split = "validation" if valid else "train"
                shard = seen[split] // per_shard[split]
                if seen[split] % per_shard[split] == 0:
                    if split in handles:
                        handles[split].close()
                    path = self.work_dir / "shards" / f"{split}-{shard:05d}.jsonl"
                    paths[split].append(str(path))
                    handles[split] = path.open("w")
                handles[split].write(line)
                seen[split] += 1
        for handle in handles.values():
            handle.close()
        admitted_file.unlink()
        return paths

    def _generate_examples(
        self, shards: list[str], split: str, images_dir: str, work_dir: str
    ) -> Iterator[tuple[str, dict]]:
        settings = self.config.settings
        skips: Counter = Counter()
        examples = 0
        for shard in shards:
            with open(shard) as lines:
                for line in lines:
                    record = record_from_json(line)
                    path = safe_join(images_dir, record.name)  # checked in _split_generators; cannot fail here
                    for example, reason in make_examples(record, path, settings):
                        if example is None:
                            skips[str(reason)] += 1
                            continue
                        examples += 1
                        yield f"{record.index}_{example['person_index']}", example
        job = {"split": split, "examples": examples, "skipped": dict(skips)}
        (Path(work_dir) / f"job-{split}-{uuid.uuid4().hex}.json").write_text(json.dumps(job))


def read_build_report(work_dir: str | Path) -> dict:
    """The plan report plus example and skip counts summed over every generation job."""
    work_dir = Path(work_dir)
    report = json.loads((work_dir / PLAN_REPORT).read_text())
    skipped = Counter(report["skipped"])
    examples = Counter({split: 0 for split in SPLITS})
    for job_file in sorted(work_dir.glob("job-*.json")):
        job = json.loads(job_file.read_text())
        examples[job["split"]] += job["examples"]
        skipped.update(job["skipped"])
    report["examples"] = dict(examples)
    report["skipped"] = dict(sorted(skipped.items()))
    return report
