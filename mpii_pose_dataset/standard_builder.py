"""The ``mpii_standard`` builder: MPII's standard train/validation split (mmpose's/HRNet's ``mpii_train.json`` and
``mpii_val.json``, read 0-based by :mod:`mpii_pose_dataset.standard_protocol`) as top-down pose-caption examples.

One example per entry: the square crop of side ``200 * scale * crop_padding`` (1.25, as mmpose) around the file's
centre moved down by ``15 * scale`` (:func:`~mpii_pose_dataset.standard_protocol.person_box`, cropped by the same
:func:`blip_pose.geometry.person_box_transform` as COCO builds and the predictor), resized to ``image_size``, with
every caption column rendered by :func:`blip_pose.pose_format.render_captions`. Validation rows carry the head box
of ``mpii_gt_val.mat`` (required: PCKh and the literature's table need it); ``mpii_train.json`` has none, so the
training rows' ``head_box`` is NaN. ``standard_index`` is the entry's position in its file (mmpose's order).

An entry with an unlabelled joint (``joints_vis`` 0) is a counted skip (``unlabelled_joints``), as COCO builds skip
a person with an unlabelled keypoint: every caption names all 16 joints, so its caption would have to invent one.
The validation split is therefore the fully labelled part of ``mpii_val.json`` (the build report and card give the
count), not all of it. The files carry no occlusion flag (``joints_vis`` marks labelled joints), so the visibility
columns write 1 for every joint: "labelled", never a claim that the joint is seen.
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
from blip_pose.images import ImageError, open_image, safe_join
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import render_captions
from mpii_pose_dataset.download import STANDARD_HEAD_BOXES, STANDARD_TRAIN, STANDARD_VAL, download_standard
from mpii_pose_dataset.features import FEATURES
from mpii_pose_dataset.source import standard_source
from mpii_pose_dataset.standard_protocol import StandardPerson, person_box, read_head_boxes, read_standard_annotations
from pose_dataset.card import SPLITS

DATASET_NAME = "mpii_standard"
SKIP_REASONS: dict[str, str] = {
    "unlabelled_joints": "joints_vis is 0 for a joint: every caption names all 16 joints",
    "joint_outside_image": "a labelled joint lies outside the original image",
    "joint_outside_crop": "a joint lies outside the person crop",
    "crop_too_large": "the person crop reaches more than one image size past the image (a bad scale)",
    "missing_image": "the image file is not in the images folder",
    "unreadable_image": "the image file cannot be decoded (or is rotated by EXIF: annotation frame unknown)",
}
_MPII_ONLY = ("mpii_index", "person_index", "video_index", "frame_sec", "activity", "category")
#: The columns: MPII's person-crop columns without the .mat's own indices and activity, with ``standard_index``.
STANDARD_FEATURES = datasets.Features(
    {**{k: v for k, v in FEATURES.items() if k not in _MPII_ONLY}, "standard_index": datasets.Value("int32")}
)
COLUMN_DOCS: dict[str, str] = {
    "joint_points": "16 × [x, y, 1] in the crop's pixels, MPII joint ids (1: labelled; the files flag no occlusion)",
    "crop_box": "x0, y0, x1, y1 of the crop in original 0-based pixels (may reach past the image: black there)",
    "scale_x": "crop = (original - crop_box[:2]) * scale",
    "head_box": "mpii_gt_val.mat's head box x1, y1, x2, y2 in the crop's pixels (validation); NaN in train",
    "person_center": "the file's center (x, y), 0-based original pixels (the file's value - 1; not shifted)",
    "person_scale": "the file's scale (person height / 200 px)",
    "standard_index": "0-based position of the entry in mpii_train.json / mpii_val.json",
}


@dataclass
class MpiiStandardConfig(datasets.BuilderConfig):
    """The top-down recipe. ``annotations_dir`` (None: download) and ``images_dir`` say where the data is."""

    annotations_dir: str | None = None
    images_dir: str = ""
    image_size: int = 384
    crop_padding: float = 1.25
    jpeg_quality: int = 95
    simple_joints: tuple[str, ...] | None = None  # None: MPII-16's default subset

    def preprocessing(self) -> Preprocessing:
        simple = MPII16.default_simple_joints if self.simple_joints is None else tuple(self.simple_joints)
        return Preprocessing("crop", self.image_size, self.crop_padding, simple)

    def recipe(self) -> dict[str, Any]:
        """The fields that define the examples (card and build report; no local paths)."""
        pre = self.preprocessing()
        return {
            "mode": pre.mode,
            "image_size": pre.image_size,
            "crop_padding": pre.crop_padding,
            "simple_joints": list(pre.simple_joints),
            "split_by": "given",
            "jpeg_quality": self.jpeg_quality,
            "persons": "every joint labelled (joints_vis 1)",
            "coordinates": COORDINATES,
        }


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class MpiiStandard(datasets.GeneratorBasedBuilder):
    """Top-down examples of MPII's standard-protocol files (see the module docstring)."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = MpiiStandardConfig
    BUILDER_CONFIGS = [
        MpiiStandardConfig(
            name="standard",
            version=VERSION,
            description="MPII's standard split (mpii_train.json / mpii_val.json): one example per fully labelled "
            "person, a square crop of side 200·scale·1.25 around the shifted centre, resized to 384×384.",
        )
    ]
    DEFAULT_CONFIG_NAME = "standard"

    def __init__(self, *args: Any, work_dir: Path, **kwargs: Any) -> None:
        self.work_dir = Path(work_dir)
        super().__init__(*args, dataset_name=DATASET_NAME, **kwargs)
        config: MpiiStandardConfig = self.config
        config.preprocessing().simple_ids(MPII16)
        if not 1 <= config.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {config.jpeg_quality}")

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=self.config.description or "", features=STANDARD_FEATURES)

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        config: MpiiStandardConfig = self.config
        if config.annotations_dir is None:
            folder, images = download_standard(dl_manager, Path(config.images_dir) if config.images_dir else None)
        else:
            folder, images = Path(config.annotations_dir), Path(config.images_dir)
        heads_file = folder / STANDARD_HEAD_BOXES
        if not heads_file.is_file():
            raise FileNotFoundError(
                f"{folder}: no {STANDARD_HEAD_BOXES} beside {STANDARD_VAL}: the validation split needs its head boxes "
                "for PCKh (mmpose's mpii_annotations.tar holds it)"
            )
        persons = {"train": read_standard_annotations(folder / STANDARD_TRAIN)}
        persons["validation"] = read_standard_annotations(folder / STANDARD_VAL)
        heads = read_head_boxes(heads_file)
        if len(heads) != len(persons["validation"]):
            raise ValueError(f"{heads_file}: {len(heads)} head boxes for {len(persons['validation'])} persons")
        skipped: Counter[str] = Counter()
        items: dict[str, list[tuple[int, StandardPerson, list[float] | None]]] = {}
        for split, entries in persons.items():
            boxes = heads.tolist() if split == "validation" else [None] * len(entries)
            for person in entries:
                safe_join(images, person.image)  # a name escaping the folder is a bad file, not a skip
            items[split] = [(i, p, box) for i, (p, box) in enumerate(zip(entries, boxes)) if p.labelled.all()]
            skipped["unlabelled_joints"] += len(entries) - len(items[split])
        self.work_dir.mkdir(parents=True, exist_ok=True)
        images_used = len({p.image for entries in persons.values() for p in entries})
        plan = {"skipped": dict(skipped), "source": standard_source(folder), "images": images_used}
        (self.work_dir / "plan.json").write_text(json.dumps(plan))
        return [
            datasets.SplitGenerator(
                name=split, gen_kwargs={"items": items[split], "images": str(images), "split": split}
            )
            for split in SPLITS
        ]

    def _generate_examples(
        self, items: list[tuple[int, StandardPerson, list[float] | None]], images: str, split: str
    ) -> Iterator[tuple[str, dict]]:
        skips: Counter[str] = Counter()
        examples = 0
        for index, person, head in items:
            example, reason = self._example(person, head, Path(images))
            if example is None:
                skips[str(reason)] += 1
                continue
            examples += 1
            yield f"{split}-{index}", {**example, "standard_index": index}
        job = {"split": split, "examples": examples, "skipped": dict(skips)}
        (self.work_dir / f"job-{split}-{uuid.uuid4().hex}.json").write_text(json.dumps(job))

    def _example(
        self, person: StandardPerson, head: list[float] | None, images: Path
    ) -> tuple[dict | None, str | None]:
        """One example, or the reason the person is skipped."""
        config: MpiiStandardConfig = self.config
        pre = config.preprocessing()
        try:
            image, (width, height) = open_image(safe_join(images, person.image), name=person.image, exif="refuse")
        except ImageError as err:
            return None, "missing_image" if err.reason == "missing_image" else "unreadable_image"
        if not inside_image(person.joints, width, height).all():
            return None, "joint_outside_image"
        x, y, w, h = person_box(person)
        try:
            transform = person_box_transform(pre, width, height, (x, y, x + w, y + h))
        except CropTooLargeError:
            return None, "crop_too_large"
        processed = transform.forward(person.joints)
        s = pre.image_size
        if not inside_image(processed, s, s).all():
            return None, "joint_outside_crop"
        labelled = np.ones(MPII16.num_keypoints, dtype=np.int64)
        box = [float("nan")] * 4 if head is None else transform.forward(np.reshape(head, (2, 2))).ravel().tolist()
        return {
            "image": {"bytes": _jpeg(transform.apply(image, (width, height)), config.jpeg_quality), "path": None},
            "image_name": person.image,
            "joint_points": np.column_stack([processed, labelled]).tolist(),
            **render_captions(processed, labelled, s, s, pre.simple_joints, spec=MPII16),
            "width": s,
            "height": s,
            "original_width": width,
            "original_height": height,
            "scale_x": transform.scale[0],
            "scale_y": transform.scale[1],
            "crop_box": list(transform.box),
            "head_box": box,
            "person_center": person.center.tolist(),
            "person_scale": person.scale,
        }, None


def read_build_report(work_dir: Path) -> dict[str, Any]:
    """Examples per split, skips by reason, images and source, summed over the plan and every generation job."""
    plan = json.loads((work_dir / "plan.json").read_text())
    skipped: Counter[str] = Counter(plan["skipped"])
    examples: Counter[str] = Counter({split: 0 for split in SPLITS})
    for job_file in sorted(work_dir.glob("job-*.json")):
        job = json.loads(job_file.read_text())
        examples[job["split"]] += job["examples"]
        skipped.update(job["skipped"])
    skipped = Counter({reason: n for reason, n in skipped.items() if n})
    report = {"examples": dict(examples), "skipped": dict(sorted(skipped.items())), "images": plan["images"]}
    return {**report, "source": plan["source"]}
