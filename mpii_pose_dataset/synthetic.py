"""Procedural people as an MPII-format release: N stick-figure frames from a seed, for training that must generalise.

    python -m mpii_pose_dataset build --synthetic 2000 --output synthetic-ds --seed 0

:func:`generate` writes ``mpii_human_pose_v1_u12_1.mat`` next to ``images/`` exactly as the bundled sample does
(same drawing in :mod:`~mpii_pose_dataset.stick_figure`, same annotation entries from
:mod:`~mpii_pose_dataset.sample_generator`), so the real reader and builder run on it unchanged. What varies:
joint angles sampled within human limits (hip, knee, shoulder, elbow ranges), body proportions, size and position
in the frame, backgrounds (solid, gradient, noise, stripes, shapes) and clothes colours. Some videos have an
occluding box, some a person partly out of the frame (joints off the image are not annotated, as in MPII, so the
resize configs count those frames as ``missing_joints``), some several people (``not_single_person`` there; the
``person_crop`` config uses them).

A figure lives in one video only: every video draws its people afresh and its 1-5 frames move them a little.
``vididx`` is the video, so the ``video_split`` config (split by video) never puts one figure on both sides.
Every video comes from ``default_rng([seed, 1, video])`` and fixed JPEG settings: the same seed writes the same bytes.
"""

from __future__ import annotations

import colorsys
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from blip_pose.dataset_source import check_synthetic_frames
from mpii_pose_dataset.download import ANNOTATION_FILE
from mpii_pose_dataset.export import build
from mpii_pose_dataset.matfile import release_struct, write_release
from mpii_pose_dataset.sample_generator import JPEG_QUALITY, apart, background, person_entry
from mpii_pose_dataset.source import GENERATOR, SYNTHETIC_RECORD, file_sha256
from mpii_pose_dataset.stick_figure import PROPORTIONS, Canvas, Look, jitter, place, pose_joints

#: Frame side in pixels: small JPEGs, fast to draw, and still 1.5x the tiny preset's 128 px input.
SIZE = 192
MAX_FRAMES = 5
#: Share of videos with several people, with a person partly out of the frame, with an occluding box.
MULTI_PERSON, OUT_OF_FRAME, OCCLUDED = 0.1, 0.06, 0.25
#: The ``act`` entry of every frame: says what the data is wherever the activity is shown.
ACTIVITY = {"cat_name": "synthetic", "act_name": "procedural stick figure", "act_id": 1}
_SKIN = ((241, 194, 150), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172))
_BACKGROUNDS = ("solid", "gradient", "noise", "stripes", "shapes")


def sample_pose(rng: np.random.Generator) -> dict[str, float]:
    """Absolute limb angles (see :mod:`~mpii_pose_dataset.stick_figure`) within human joint limits.

    ``facing`` (+1 right, -1 left) fixes which way knees bend back and elbows bend forward in the image plane;
    ``out`` is each side's outward direction (the figure's right lies on the image's left).
    """
    lean = float(np.clip(rng.normal(0, 10), -40, 40))
    facing = 1.0 if rng.random() < 0.5 else -1.0
    pose = {"lean": lean, "head": float(rng.uniform(-25, 25)), "width": float(rng.uniform(0.35, 1.0))}
    for side, out in (("r", -1.0), ("l", 1.0)):
        if rng.random() < 0.3:  # hip flexion / extension (sitting, kicking, striding)
            thigh = facing * rng.uniform(-30, 110)
        else:  # abduction, a little adduction
            thigh = out * rng.uniform(-10, 45)
        knee = rng.uniform(0, 140) if rng.random() < 0.5 else rng.uniform(0, 15)
        upper = out * rng.uniform(-20, 180)  # shoulder: arm across the body to straight up
        elbow = rng.uniform(0, 150)
        pose[f"{side}_thigh"] = lean + thigh
        pose[f"{side}_shin"] = lean + thigh - facing * knee
        pose[f"{side}_upper"] = lean + upper
        pose[f"{side}_fore"] = lean + upper + facing * elbow * (1 if rng.random() < 0.8 else -0.3)
    return {k: float(v) for k, v in pose.items()}


def sample_proportions(rng: np.random.Generator) -> dict[str, float]:
    """Segment lengths of :data:`~mpii_pose_dataset.stick_figure.PROPORTIONS`, each scaled by up to +-15 %."""
    return {k: v * float(rng.uniform(0.85, 1.15)) for k, v in PROPORTIONS.items()}


def _muted(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.4), rng.uniform(0.2, 0.65))
    return int(r * 255), int(g * 255), int(b * 255)


def backdrop(rng: np.random.Generator) -> Image.Image:
    """One video's background: the sample's kinds plus ``shapes`` (muted boxes and discs over a gradient)."""
    kind = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))]
    image = background("gradient" if kind == "shapes" else kind, (SIZE, SIZE), rng)
    if kind == "shapes":
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 9))):
            x, y = rng.uniform(-0.2, 1.0, 2) * SIZE
            w, h = rng.uniform(0.08, 0.5, 2) * SIZE
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([float(x), float(y), float(x + w), float(y + h)], fill=_muted(rng))
    return image


def _look(rng: np.random.Generator, height_px: float) -> Look:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.2, 0.7), rng.uniform(0.35, 0.8))
    return Look(
        shirt=(int(r * 255), int(g * 255), int(b * 255)),
        skin=_SKIN[int(rng.integers(len(_SKIN)))],
        thickness=max(4, round(rng.uniform(0.04, 0.065) * height_px)),
        outline=1,
    )


def _shift_into_frame(joints: np.ndarray, margin: int) -> np.ndarray:
    """Move a placed figure the least so that every joint lies ``margin`` px inside the frame."""
    lo, hi = joints.min(0), joints.max(0)
    shift = np.maximum(margin - lo, 0) - np.maximum(hi - (SIZE - 1 - margin), 0)
    return joints + shift.astype(np.int64)


class _Person:
    """A figure of one video: its pose, body, look, size and path across the frames."""

    def __init__(self, rng: np.random.Generator, slot: tuple[float, float], height: float) -> None:
        self.pose, self.body = sample_pose(rng), sample_proportions(rng)
        self.height = height * SIZE
        self.look = _look(rng, self.height)
        self.centre = np.array([rng.uniform(*slot) * SIZE, rng.uniform(0.3, 0.7) * SIZE])
        self.velocity = rng.normal(0, 0.015 * SIZE, 2)

    def joints(self, frame: int, rng: np.random.Generator, margin: int) -> np.ndarray:
        unit = pose_joints(jitter(self.pose, rng, 5.0), self.body)
        return _shift_into_frame(place(unit, tuple(self.centre + self.velocity * frame), self.height), margin)


def _out_of_frame(joints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Push a figure over a random edge so that 10-40 % of its extent leaves the frame."""
    axis, to_end = int(rng.integers(2)), rng.random() < 0.5
    extent = joints[:, axis].max() - joints[:, axis].min()
    cut = int(rng.uniform(0.1, 0.4) * extent)
    shift = np.zeros(2, dtype=np.int64)
    shift[axis] = (SIZE - 1 - joints[:, axis].max() + cut) if to_end else (cut - joints[:, axis].min())
    return joints + shift


def _video(seed: int, v: int, frames: int) -> list[tuple[Image.Image, list[dict[str, Any]], list[int]]]:
    """Draw the ``frames`` frames of video ``v``: (image, annorect entries, 1-based single_person) each."""
    rng = np.random.default_rng([seed, 1, v])
    backdrop_image = backdrop(rng)
    n_people = int(rng.integers(2, 4)) if rng.random() < MULTI_PERSON else 1
    heights = rng.uniform(0.35, 0.7, n_people) if n_people > 1 else rng.uniform(0.45, 0.95, 1)
    slots = [(k / n_people + 0.1, (k + 1) / n_people - 0.1) for k in range(n_people)]
    people = [_Person(rng, slot, h) for slot, h in zip(slots, heights, strict=True)]
    leaves = rng.random() < OUT_OF_FRAME
    occluded = rng.random() < OCCLUDED
    out = []
    for frame in range(frames):
        canvas = Canvas(backdrop_image.copy())
        placed = []
        for k, person in enumerate(people):
            joints = person.joints(frame, rng, margin=person.look.thickness)
            if leaves and k == 0:
                joints = _out_of_frame(joints, rng)
            canvas.person(joints, person.look, label=k + 1)
            placed.append(joints)
        if occluded:
            side = rng.uniform(0.15, 0.3) * people[0].height
            x0, y0 = placed[0][int(rng.integers(16))] + rng.uniform(-0.3, 0.3, 2) * side - side / 2
            canvas.occluder((int(x0), int(y0), int(x0 + side), int(y0 + side)), _muted(rng))
        rects = [
            person_entry(
                joints,
                canvas.visible(joints, k + 1),
                (SIZE, SIZE),
                train=True,
                annotated=True,
                visibility="number",
                blank=set(),
                shuffle=False,
                rng=rng,
            )
            for k, joints in enumerate(placed)
        ]
        boxes = [np.array([*j.min(0), *j.max(0)], dtype=np.float64) for j in placed]
        single = [k + 1 for k in range(len(placed)) if apart(boxes, k, 0.05 * SIZE)]
        out.append((canvas.image, rects, single))
    return out


def video_lengths(n: int, seed: int) -> list[int]:
    """Frames per video (1..MAX_FRAMES) adding up to ``n``: the plan, drawn before any pixel."""
    rng = np.random.default_rng([seed, 0])
    lengths: list[int] = []
    while sum(lengths) < n:
        lengths.append(min(int(rng.integers(1, MAX_FRAMES + 1)), n - sum(lengths)))
    return lengths


def generate(out: str | Path, n: int, seed: int = 0) -> Path:
    """Write ``n`` frames to ``out/images`` and their annotation file; return the annotation file's path."""
    check_synthetic_frames(n, "frames", minimum=1)  # drawing needs no split; the upper bound keeps memory in check
    out = Path(out)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    names = [f"{i:09d}.jpg" for i in range(n)]
    stale = sorted({p.name for p in images.glob("*.jpg")} - set(names))
    if stale:  # a mixed folder would no longer match its annotation file
        raise FileExistsError(f"{images} holds {len(stale)} JPEGs this generator does not write (e.g. {stale[0]})")
    annolist: list[dict[str, Any]] = []
    single_person: list[list[int]] = []
    lengths = video_lengths(n, seed)
    for v, frames in enumerate(lengths):
        for frame, (image, rects, single) in enumerate(_video(seed, v, frames)):
            name = names[len(annolist)]
            # 4:4:4: chroma subsampling would wash out the colour of joint discs a few pixels wide.
            image.save(images / name, "JPEG", quality=JPEG_QUALITY, subsampling="4:4:4", optimize=False)
            annolist.append({"image": {"name": name}, "annorect": rects, "frame_sec": float(frame), "vididx": v + 1})
            single_person.append(single)
    release = release_struct(
        annolist,
        img_train=[1] * n,
        single_person=single_person,
        act=[ACTIVITY] * n,
        video_list=[f"synthetic-{seed}-{v:06d}" for v in range(len(lengths))],
        version="12",
    )
    mat = write_release(out / ANNOTATION_FILE, release)
    # The build records this as the dataset's source, so its card says "synthetic", not MPII.
    record = {"generator": GENERATOR, "seed": seed, "frames": n, "annotation_sha256": file_sha256(mat)}
    (out / SYNTHETIC_RECORD).write_text(json.dumps(record) + "\n")
    return mat


def build_synthetic(
    output: str | Path, n: int, seed: int = 0, config: str = "video_split", num_proc: int | None = None
) -> Path:
    """Generate ``n`` procedural frames from ``seed`` and build ``config`` of them into ``output`` (Hub layout).

    The source release is generated into a temporary folder and removed after the build; ``output`` then loads
    with ``datasets.load_dataset(output, config)``.
    """
    check_synthetic_frames(n, "n")
    with tempfile.TemporaryDirectory(prefix="synthetic-mpii-") as source:
        generate(source, n, seed)
        build(output, data_dir=source, configs=(config,), num_proc=num_proc)
    return Path(output)
