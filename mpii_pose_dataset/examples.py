"""From MPII records to ``mpii_pose_caption`` examples: which persons qualify, the geometry, the captions.

Three stages, so a build can decide the splits before making any example:

* :func:`admit` looks only at the annotation (no image I/O) and returns the persons that may become examples,
  counting every rejected candidate under a reason;
* :func:`probe_reason` checks the file type and image header and decodes the whole file (a missing, zero-byte,
  FIFO, non-image, truncated or damaged file is counted here and never given a place in a split);
* :func:`make_examples` opens the image once and yields one example per admitted person, or a skip reason when
  the image cannot be used or a joint falls outside the image / crop.

A candidate is an image in ``resize`` mode (the paper's single-person images) and a person in ``crop`` mode; the
reasons are counted in that unit. Nothing here ever emits an example whose label could be wrong: an image with an
EXIF rotation (MPII annotated the stored pixel grid, a rotated file leaves the frame in doubt) or a joint outside
the picture (:func:`blip_pose.geometry.inside_image`) is a counted skip, never a guess.

The resize configs select images as the method's own data code did: MPII's ``single_person`` list must name
exactly one person, and THAT person is the example, even when the image holds other annotated people. A release
without ``single_person`` (annolist-only files) falls back to "exactly one annotated person" (:func:`selection`
says which rule a release gets; the build report records it). An empty ``is_visible`` counts as visible
(:data:`VISIBLE_WHEN_EMPTY`), as the method did; the build report counts those joints.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from blip_pose.geometry import BoxTransform, CropTooLargeError, Preprocessing, head_box_ok, inside_image
from blip_pose.images import ImageError, check_regular_file, open_image, safe_join
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import render_captions
from mpii_pose_dataset.image_check import jpeg_reason
from mpii_pose_dataset.reader import ImageRecord, Person, Point
from mpii_pose_dataset.source import file_sha256

#: Every skip reason a build can report, with what it means (the dataset card prints this table).
SKIP_REASONS: dict[str, str] = {
    "test_image": "img_train = 0: MPII withholds the joints of test images",
    "malformed_annotation": "the annotation entry cannot be read (the build report lists the messages)",
    "no_person": "the image has no annotated person",
    "no_single_person": "MPII's single_person list of the image is empty (resize configs)",
    "not_single_person": "single_person names more than one person; in a release without single_person: the image "
    "does not have exactly one annotated person (resize configs)",
    "missing_joints": "fewer than 16 annotated joints",
    "missing_head_box": "no head rectangle (PCKh needs it)",
    "bad_head_box": "the head rectangle has zero size or is inverted (x2 <= x1 or y2 <= y1): no head size for PCKh",
    "missing_center_scale": "no objpos/scale to place the crop (crop configs)",
    "joint_outside_image": "a joint lies outside the original image",
    "joint_outside_crop": "a joint lies outside the person crop (crop configs)",
    "missing_image": "the image file does not exist",
    "not_a_regular_file": "the image path is a FIFO, device or folder (never opened)",
    "crop_too_large": "the person crop reaches more than one image size past the image (a bad scale)",
    "corrupt_image": "the image file is corrupt or truncated",
    "damaged_image_data": "the JPEG's header is valid but its scan data is damaged or ends before the image does "
    "(the decoder would grey-fill the rest)",
    "duplicate_image": "the same image file (same bytes) is listed again by a later annolist entry; its first "
    "admitted listing is kept",
    "not_an_image": "the file is not an image PIL can read",
    "decompression_bomb": "refused by PIL's decompression-bomb guard",
    "exif_orientation": "EXIF says the file is rotated/flipped; the annotation frame is unknown",
}


#: The simple captions of the method's notebook (its write-up says one joint; the default keeps one, upper_neck):
#: ``python -m mpii_pose_dataset build --simple-joints head,rknee,lknee,relb,lelb``.
METHOD_SIMPLE_JOINTS: tuple[str, ...] = ("head", "rknee", "lknee", "relb", "lelb")


@dataclass(frozen=True)
class ExampleSettings:
    """What :func:`make_examples` needs from a builder config (plain values: sent to worker processes)."""

    mode: str = "resize"  # "resize" (whole image) or "crop" (square around the person)
    image_size: int = 384
    crop_padding: float = 1.25
    simple_joints: tuple[str, ...] = MPII16.default_simple_joints
    jpeg_quality: int = 95
    single_person: bool = True  # resize configs: the one person MPII's single_person names (see selection())

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(self.mode, self.image_size, self.crop_padding)


#: What an empty ``is_visible`` means: visible, as the method's data code read it.
VISIBLE_WHEN_EMPTY = 1
SELECTION_RULES = {
    "single_person": "the one person MPII's single_person list names (the list must have exactly one entry)",
    "one_annorect": "the release has no single_person: images with exactly one annotated person (annorect)",
    "all_persons": "every annotated person of an image (crop configs)",
}


def selection(settings: ExampleSettings, has_single_person: bool) -> str:
    """The key of :data:`SELECTION_RULES` that a release gets under ``settings``."""
    if not settings.single_person:
        return "all_persons"
    return "single_person" if has_single_person else "one_annorect"


def _person_reason(person: Person, settings: ExampleSettings) -> str | None:
    if len(person.points) < MPII16.num_keypoints:
        return "missing_joints"
    if person.head_box is None:
        return "missing_head_box"
    if not head_box_ok(np.asarray(person.head_box)):
        return "bad_head_box"
    if settings.mode == "crop" and (person.center is None or person.scale is None or not person.scale > 0):
        return "missing_center_scale"
    return None


def _candidates(record: ImageRecord, settings: ExampleSettings, skips: Counter) -> tuple[Person, ...]:
    """The persons an image offers under the config's selection rule (a rejected image goes into ``skips``)."""
    if not settings.single_person:
        return record.persons
    single = record.single_person
    if single is None:  # annolist-only release: the fallback rule
        chosen = record.persons if len(record.persons) == 1 else ()
    elif not single:
        skips["no_single_person"] += 1
        return ()
    else:
        chosen = (record.persons[single[0]],) if len(single) == 1 else ()
    if not chosen:
        skips["not_single_person"] += 1
    return chosen


def admit(record: ImageRecord, settings: ExampleSettings, skips: Counter) -> tuple[int, ...]:
    """Indices of the persons of ``record`` that may become examples; rejected candidates go into ``skips``."""
    if not record.persons:
        skips["no_person"] += 1
        return ()
    if not record.is_train:
        skips["test_image"] += 1 if settings.mode == "resize" else len(record.persons)
        return ()
    admitted = []
    for person in _candidates(record, settings, skips):
        reason = _person_reason(person, settings)
        if reason is None:
            admitted.append(person.index)
        else:
            skips[reason] += 1
    return tuple(admitted)


def defaulted_flags(record: ImageRecord, person_indices: tuple[int, ...]) -> int:
    """How many joints of the given persons have an empty ``is_visible`` (read as :data:`VISIBLE_WHEN_EMPTY`)."""
    return sum(q.visible is None for i in person_indices for q in record.persons[i].points)


def record_to_json(record: ImageRecord, person_indices: tuple[int, ...]) -> str:
    """One line of a shard file: the record with only the admitted persons (JSON, never pickle)."""
    data = dataclasses.asdict(record)
    data["persons"] = [data["persons"][i] for i in person_indices]
    return json.dumps(data, separators=(",", ":"))


def record_from_json(line: str) -> ImageRecord:
    """Inverse of :func:`record_to_json` (``persons`` then holds only the admitted ones, indices kept)."""
    data = json.loads(line)
    persons = tuple(
        Person(
            index=p["index"],
            points=tuple(Point(**q) for q in p["points"]),
            head_box=None if p["head_box"] is None else tuple(p["head_box"]),
            center=None if p["center"] is None else tuple(p["center"]),
            scale=p["scale"],
        )
        for p in data.pop("persons")
    )
    single = data.pop("single_person")
    return ImageRecord(persons=persons, single_person=None if single is None else tuple(single), **data)


def check_name(record: ImageRecord, images_dir: Path, mat_path: Path) -> Path:
    """The image path; an absolute or escaping name is refused with an error naming the file and the entry."""
    try:
        return safe_join(images_dir, record.name)
    except ImageError as err:
        raise ValueError(
            f"{mat_path}: image {record.index} (annolist({record.index + 1})) has the unsafe name "
            f"{record.name!r}: {err}. Refusing to read outside {images_dir}."
        ) from None


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _inside(xy: np.ndarray, width: float, height: float) -> bool:
    return bool(inside_image(xy, width, height).all())


#: JPEG draft mode may decode down to this share of the output resolution (then upsample by <= 1/0.9). It halves
#: the decode + resize time of MPII's 1280x720 frames (decoded at 640x360 for a 384x384 output): the DCT-domain
#: reduction is itself a proper low-pass, and the labels are unaffected (the box maps exactly in either size).
DRAFT_MIN_SHARE = 0.9


def _draft_size(transforms: list[BoxTransform], width: int, height: int) -> tuple[int, int]:
    """The decode size draft mode must not go below: DRAFT_MIN_SHARE of a source pixel per output pixel."""
    factor = max(max(t.scale) for t in transforms) * DRAFT_MIN_SHARE
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def _or_nan(values: tuple[float, ...] | None, n: int) -> list[float]:
    return [math.nan] * n if values is None else [float(v) for v in values]


def _probe_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the header alone, or None (open_image then reports the precise reason)."""
    try:
        check_regular_file(path)  # Image.open on a FIFO blocks forever
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as probe:
                return probe.size
    except Exception:
        return None


def file_identity(path: Path) -> str:
    """What makes two annolist entries the same picture: the file's bytes (sha256), so ``a.jpg``, ``./a.jpg``, a
    link to it or a byte-identical copy under another name are one image; the resolved path when it cannot be read
    (the probe then counts why)."""
    try:
        check_regular_file(path)  # reading a FIFO blocks forever: the probe counts it as not_a_regular_file
        return file_sha256(path)
    except (OSError, ImageError):
        return str(Path(path).resolve())


def probe_reason(path: Path) -> str | None:
    """Why the file at ``path`` cannot be an image, or None: its type and header, then a full decode (at 1/8 scale,
    with the JPEG damage checks of :mod:`~mpii_pose_dataset.image_check`).

    Run before the splits are drawn, so an unusable file never takes a place in a split.
    """
    try:
        check_regular_file(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as probe:
                width, height, jpeg = *probe.size, probe.format == "JPEG"
                if not jpeg:
                    probe.load()  # LOAD_TRUNCATED_IMAGES is off: a cut file raises here
    except ImageError as err:
        return err.reason
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "decompression_bomb"
    except UnidentifiedImageError:
        return "not_an_image"
    except (OSError, SyntaxError, ValueError):
        return "corrupt_image"
    if not (width > 0 and height > 0):
        return "corrupt_image"
    return jpeg_reason(path.read_bytes()) if jpeg else None


def make_examples(
    record: ImageRecord, image_path: Path, settings: ExampleSettings
) -> Iterator[tuple[dict | None, str | None]]:
    """Yield ``(example, None)`` per person of ``record`` (the admitted ones), or ``(None, reason)`` per skip.

    The image is decoded once, in JPEG draft mode at the smallest size the outputs need.
    """
    persons = record.persons
    pre = settings.preprocessing
    draft = None
    probed = _probe_size(image_path)
    if probed is not None:
        try:
            draft = _draft_size([pre.transform(*probed, p.center, p.scale) for p in persons], *probed)
        except CropTooLargeError:
            draft = None  # counted per person below
    try:
        image, (width, height) = open_image(image_path, name=record.name, exif="refuse", draft_size=draft)
    except ImageError as err:
        for _ in persons:
            yield None, err.reason
        return
    for person in persons:
        flags = [VISIBLE_WHEN_EMPTY if q.visible is None else q.visible for q in person.points]
        xy = np.array([(q.x, q.y, v) for q, v in zip(person.points, flags, strict=True)], dtype=np.float64)
        if not _inside(xy, width, height):
            yield None, "joint_outside_image"
            continue
        try:
            transform = pre.transform(width, height, person.center, person.scale)
        except CropTooLargeError:
            yield None, "crop_too_large"
            continue
        processed = transform.forward(xy)
        size = settings.image_size
        if not _inside(processed, size, size):
            yield None, "joint_outside_crop"
            continue
        head = transform.forward(np.asarray(person.head_box, dtype=np.float64).reshape(2, 2)).ravel()
        yield (
            {
                "image": {"bytes": _jpeg(transform.apply(image, (width, height)), settings.jpeg_quality), "path": None},
                "image_name": record.name,
                "joint_points": processed.tolist(),
                **render_captions(
                    processed[:, :2], processed[:, 2].astype(np.int64), size, size, settings.simple_joints
                ),
                "width": size,
                "height": size,
                "original_width": width,
                "original_height": height,
                "scale_x": transform.scale[0],
                "scale_y": transform.scale[1],
                "crop_box": list(transform.box),
                "head_box": head.tolist(),
                "person_center": _or_nan(person.center, 2),
                "person_scale": math.nan if person.scale is None else person.scale,
                "mpii_index": record.index,
                "person_index": person.index,
                "video_index": -1 if record.video_index is None else record.video_index,
                "frame_sec": math.nan if record.frame_sec is None else record.frame_sec,
                "activity": record.activity or "",
                "category": record.category or "",
            },
            None,
        )
