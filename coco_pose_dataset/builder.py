"""The ``coco_pose_caption`` builder: a COCO-keypoints file as top-down pose-caption examples (mmpose/ViTPose's way).

One example per usable person: a square crop around the person box (centre = the box's centre, side =
``max(w, h) * crop_padding``: :func:`blip_pose.geometry.person_box_transform`, the rule the predictor applies to a
user's boxes), resized to ``image_size``; every caption column of the file's keypoint set rendered by
:func:`blip_pose.pose_format.render_captions` in the crop's pixels. The columns keep what scoring in the original
image needs (the person box, COCO's keypoints and area, the crop box, image and annotation ids, the original size).

What becomes of COCO's visibility flags: ``v=2`` (visible) is visibility 1, ``v=1`` (labelled, occluded) is 0, as
MPII's ``is_visible``. A person with an unlabelled keypoint (``v=0``, no coordinate) is a counted skip
(``unlabelled_keypoints``): every caption column names every keypoint of the set, so a caption of such a person
would have to invent a position, and MPII's ``paper`` config keeps only fully annotated persons for the same reason.
Crowd, keypoint-less, missing-image and out-of-image persons are the reader's skips
(:mod:`coco_pose_dataset.reader`); a labelled keypoint outside the crop, an image whose size disagrees with the file
and an unreadable image are skipped here.

Splits: a second file (``val_json``) is the validation split as given; otherwise images are split at random
(``seed``, ``validation_ratio``), so all persons of one picture are on one side.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from PIL import Image

from blip_pose.geometry import COORDINATES, CropTooLargeError, Preprocessing, inside_image, person_box_transform
from blip_pose.images import ImageError, open_image
from blip_pose.keypoints import KeypointSpec
from blip_pose.pose_format import CAPTION_COLUMNS, render_captions
from coco_pose_dataset.reader import CocoKeypoints, CocoPerson
from pose_dataset.card import SPLITS

DATASET_NAME = "coco_pose_caption"
#: Skip reasons of this builder (the reader's are in :data:`coco_pose_dataset.reader.SKIP_REASONS`).
SKIP_REASONS: dict[str, str] = {
    "crowd": "iscrowd: one box around many people, no keypoints of one person",
    "no_keypoints": "num_keypoints 0: no keypoint labelled",
    "missing_image": "the image file is not in the images folder",
    "empty_box": "the person box has no width or height",
    "outside_image": "the box or a labelled keypoint lies outside the image",
    "unlabelled_keypoints": "a keypoint of the set is unlabelled (v=0): every caption names every keypoint",
    "keypoint_outside_crop": "a keypoint lies outside the square person crop",
    "crop_too_large": "the person crop reaches more than one image size past the image",
    "image_size_mismatch": "the image's size is not the width/height the file gives (annotation frame unknown)",
    "unreadable_image": "the image file cannot be decoded (or is rotated by EXIF)",
}


@dataclass
class CocoPoseCaptionConfig(datasets.BuilderConfig):
    """The top-down recipe. ``images_dir``, ``val_json`` and ``category`` say where the data is (not recipe)."""

    images_dir: str = ""
    val_json: str | None = None
    category: str | None = None
    image_size: int = 384
    crop_padding: float = 1.25
    seed: int = 42
    validation_ratio: float = 0.2
    jpeg_quality: int = 95
    simple_joints: tuple[str, ...] | None = None  # None: the keypoint set's default subset

    def validate(self, spec: KeypointSpec) -> None:
        """Refuse bad field values before any image is read."""
        if self.simple_joints is not None:
            self.simple_joints = tuple(self.simple_joints)
            spec.ids(self.simple_joints)
        self.preprocessing(spec)
        if not 0 < self.validation_ratio < 1:
            raise ValueError(f"validation_ratio must be between 0 and 1 (exclusive), got {self.validation_ratio}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {self.jpeg_quality}")

    def preprocessing(self, spec: KeypointSpec) -> Preprocessing:
        simple = spec.default_simple_joints if self.simple_joints is None else self.simple_joints
        return Preprocessing("crop", self.image_size, self.crop_padding, simple)

    def recipe(self, spec: KeypointSpec) -> dict[str, Any]:
        """The fields that define the examples (card and build report; no local paths)."""
        pre = self.preprocessing(spec)
        return {
            "mode": pre.mode,
            "image_size": pre.image_size,
            "crop_padding": pre.crop_padding,
            "simple_joints": list(pre.simple_joints),
            "split_by": "given" if self.val_json else "image",
            "seed": self.seed,
            "validation_ratio": self.validation_ratio,
            "jpeg_quality": self.jpeg_quality,
            "persons": "every keypoint labelled (v > 0)",
            "coordinates": COORDINATES,
        }


def features(spec: KeypointSpec) -> datasets.Features:
    """The columns of a build of keypoint set ``spec`` (K keypoints)."""
    f32, i64, text = datasets.Value("float32"), datasets.Value("int64"), datasets.Value("string")
    k = spec.num_keypoints
    return datasets.Features(
        {
            "image": datasets.Image(),
            "image_name": text,
            "joint_points": datasets.Sequence(datasets.Sequence(f32, length=3), length=k),
            **{column: text for column in CAPTION_COLUMNS},
            "width": datasets.Value("int32"),
            "height": datasets.Value("int32"),
            "original_width": datasets.Value("int32"),
            "original_height": datasets.Value("int32"),
            "scale_x": f32,
            "scale_y": f32,
            "crop_box": datasets.Sequence(f32, length=4),
            "person_box": datasets.Sequence(f32, length=4),
            "coco_keypoints": datasets.Sequence(datasets.Sequence(f32, length=3), length=k),
            "area": f32,
            "image_id": i64,
            "annotation_id": i64,
        }
    )


#: One line per column for the dataset card.
COLUMN_DOCS: dict[str, str] = {
    "image": "the square person crop (JPEG bytes), the model's input",
    "image_name": "the file name the COCO file gives",
    "joint_points": "K × [x, y, visible] in the crop's pixels, the set's order (visible: 1 for v=2, 0 for v=1)",
    "width": "crop width (= image_size)",
    "height": "crop height (= image_size)",
    "original_width": "width of the original image",
    "original_height": "height of the original image",
    "scale_x": "crop = (original - crop_box[:2]) * scale",
    "scale_y": "as scale_x, vertical",
    "crop_box": "x0, y0, x1, y1 of the crop in original pixels (may reach past the image: black there)",
    "person_box": "COCO's bbox x, y, w, h in original pixels",
    "coco_keypoints": "COCO's K × [x, y, v] in original 0-based pixels (v: 1 occluded, 2 visible)",
    "area": "COCO's area (OKS's scale s²)",
    "image_id": "COCO image id",
    "annotation_id": "COCO annotation id",
}


def split_by_image(persons: list[CocoPerson], ratio: float, seed: int) -> tuple[list[CocoPerson], list[CocoPerson]]:
    """``(train, validation)``: a seeded random share ``ratio`` of the images (at least one each side)."""
    ids = sorted({p.image_id for p in persons})
    if len(ids) < 2:
        raise ValueError(f"cannot split {len(ids)} image(s) with usable persons into train and validation")
    n_val = min(max(1, round(ratio * len(ids))), len(ids) - 1)
    order = np.random.default_rng(seed).permutation(len(ids))
    validation = {ids[i] for i in order[:n_val]}
    return [p for p in persons if p.image_id not in validation], [p for p in persons if p.image_id in validation]


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class CocoPoseCaption(datasets.GeneratorBasedBuilder):
    """Top-down examples of read COCO-keypoints files (see the module docstring)."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = CocoPoseCaptionConfig
    BUILDER_CONFIGS = [
        CocoPoseCaptionConfig(
            name="top_down",
            version=VERSION,
            description="One example per person with every keypoint labelled: a square crop of side "
            "max(w, h)·1.25 around the COCO person box, resized to 384×384 (aspect kept); the validation file as "
            "given, else a seeded 80/20 split by image.",
        )
    ]
    DEFAULT_CONFIG_NAME = "top_down"

    def __init__(
        self, *args: Any, train: CocoKeypoints, validation: CocoKeypoints | None, work_dir: Path, **kwargs: Any
    ) -> None:
        self.spec = train.spec
        self.read_train, self.read_validation = train, validation
        self.work_dir = Path(work_dir)
        super().__init__(*args, dataset_name=DATASET_NAME, **kwargs)
        self.config.validate(self.spec)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=self.config.description or "", features=features(self.spec))

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        config: CocoPoseCaptionConfig = self.config
        self.work_dir.mkdir(parents=True, exist_ok=True)
        skipped: Counter[str] = Counter()
        complete: dict[str, list[CocoPerson]] = {}
        reads = {"train": self.read_train, "validation": self.read_validation}
        for split, read in reads.items():
            if read is None:
                continue
            skipped.update(read.skipped)
            complete[split] = [p for p in read.persons if (p.keypoints[:, 2] > 0).all()]
            skipped["unlabelled_keypoints"] += len(read.persons) - len(complete[split])
        if self.read_validation is None:
            try:
                complete["train"], complete["validation"] = split_by_image(
                    complete["train"], config.validation_ratio, config.seed
                )
            except ValueError as err:
                counts = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())) or "none"
                raise ValueError(f"{self.read_train.source.name}: {err} (skipped persons: {counts})") from None
        (self.work_dir / "plan.json").write_text(json.dumps({"skipped": dict(skipped)}))
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"persons": complete[split], "split": split})
            for split in SPLITS
        ]

    def _generate_examples(self, persons: list[CocoPerson], split: str) -> Iterator[tuple[str, dict]]:
        skips: Counter[str] = Counter()
        examples = 0
        for person in persons:
            example, reason = self._example(person)
            if example is None:
                skips[str(reason)] += 1
                continue
            examples += 1
            yield f"{person.image_id}_{person.annotation_id}", example
        job = {"split": split, "examples": examples, "skipped": dict(skips)}
        (self.work_dir / f"job-{split}-{uuid.uuid4().hex}.json").write_text(json.dumps(job))

    def _example(self, person: CocoPerson) -> tuple[dict | None, str | None]:
        """One example, or the reason the person is skipped."""
        config: CocoPoseCaptionConfig = self.config
        pre = config.preprocessing(self.spec)
        try:
            image, size = open_image(person.image_file, exif="refuse")
        except ImageError:
            return None, "unreadable_image"
        if size != (person.width, person.height):
            return None, "image_size_mismatch"
        x, y, w, h = person.bbox
        try:
            transform = person_box_transform(pre, person.width, person.height, (x, y, x + w, y + h))
        except CropTooLargeError:
            return None, "crop_too_large"
        points = person.keypoints
        processed = transform.forward(points[:, :2])
        if not inside_image(processed, pre.image_size, pre.image_size).all():
            return None, "keypoint_outside_crop"
        visible = (points[:, 2] == 2).astype(np.int64)
        s = pre.image_size
        return {
            "image": {"bytes": _jpeg(transform.apply(image, size), config.jpeg_quality), "path": None},
            "image_name": str(person.image_file.name),
            "joint_points": np.column_stack([processed, visible]).tolist(),
            **render_captions(processed, visible, s, s, pre.simple_joints, spec=self.spec),
            "width": s,
            "height": s,
            "original_width": person.width,
            "original_height": person.height,
            "scale_x": transform.scale[0],
            "scale_y": transform.scale[1],
            "crop_box": list(transform.box),
            "person_box": list(person.bbox),
            "coco_keypoints": points.tolist(),
            "area": person.area,
            "image_id": person.image_id,
            "annotation_id": person.annotation_id,
        }, None


def read_build_report(work_dir: Path) -> dict[str, Any]:
    """Examples per split and skips by reason, summed over the plan and every generation job."""
    skipped: Counter[str] = Counter(json.loads((work_dir / "plan.json").read_text())["skipped"])
    examples: Counter[str] = Counter({split: 0 for split in SPLITS})
    for job_file in sorted(work_dir.glob("job-*.json")):
        job = json.loads(job_file.read_text())
        examples[job["split"]] += job["examples"]
        skipped.update(job["skipped"])
    return {"examples": dict(examples), "skipped": dict(sorted(skipped.items()))}
