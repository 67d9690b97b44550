"""Generate the bundled synthetic MPII-format sample: JPEG frames of stick figures and their exact annotations.

    python -m mpii_pose_dataset.sample_generator --out mpii_pose_dataset/sample

The output mirrors the real release (``mpii_human_pose_v1_u12_1.mat`` next to ``images/``) and carries the real
file's quirks: annorect as a single struct, an array or empty; test images with objpos/scale only; annopoints
empty, cut short by people leaving the frame, or out of id order; is_visible as numbers, as '0'/'1' characters or
empty; single_person with one, several or no people; frames without vididx/frame_sec; images without an activity.
Frames of one video share background and people with a small pose change, so splits by video can be tested.

Figures are drawn in 0-based pixels and written to the file 1-based (MATLAB's convention, + MATLAB_ORIGIN), as
the real file is, so the reader's 0-based records land exactly on the drawn joints.

Everything comes from fixed seeds and JPEG settings, so two runs write identical bytes.
"""

from __future__ import annotations

import argparse
import colorsys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from blip_pose.geometry import MATLAB_ORIGIN, inside_image
from blip_pose.keypoints.mpii import MPII16, MPII_SCALE_PX
from mpii_pose_dataset.download import ANNOTATION_FILE
from mpii_pose_dataset.matfile import release_struct, write_release
from mpii_pose_dataset.stick_figure import TEMPLATES, Canvas, Look, head_circle, jitter, place, pose_joints

#: MPII caption token -> joint id.
_ID = {caption: i for i, caption in enumerate(MPII16.captions)}

SEED = 1405
JPEG_QUALITY = 90
_SKIN = ((241, 194, 150), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172))


@dataclass(frozen=True)
class Figure:
    template: str
    centre: tuple[float, float]  # fractions of the image width and height
    height: float  # fraction of the image height
    frames: tuple[int, ...] | None = None  # frames the person appears in (None: all)
    unannotated_frame: int | None = None  # frame in which the annotator left annopoints empty


@dataclass(frozen=True)
class Video:
    size: tuple[int, int]  # width, height
    background: str  # solid | gradient | noise | stripes
    figures: tuple[Figure, ...]
    act: tuple[str, str, int] | None  # category, activity, act_id; None: empty act entry
    frames: int = 4
    occlude: tuple[str, ...] = ()  # joints of the first person hidden behind a box
    drift: float = 0.0  # horizontal move per frame (fraction of the width): walks out of the frame
    train: bool = True
    visibility: str = "number"  # how is_visible is written: number | char
    blank_visibility_frame: int | None = None  # frame whose wrists get is_visible = []
    in_video: bool = True  # False: a lone image without vididx / frame_sec


VIDEOS: tuple[Video, ...] = (
    Video(
        (640, 360),
        "solid",
        (Figure("standing", (0.5, 0.5), 0.86),),
        ("occupation", "standing, talking", 101),
        occlude=("rwri",),
        frames=5,
    ),
    Video(
        (640, 360),
        "gradient",
        (Figure("walking", (0.45, 0.5), 0.86),),
        ("walking", "walking, general", 102),
        blank_visibility_frame=1,
    ),
    Video(
        (640, 360),
        "noise",
        (Figure("arms_up", (0.5, 0.5), 0.88),),
        ("conditioning exercise", "jumping jacks", 103),
        occlude=("lknee",),
        frames=5,
    ),
    Video(
        (480, 360),
        "stripes",
        (Figure("sitting", (0.5, 0.5), 0.72),),
        ("miscellaneous", "sitting, talking", 104),
        frames=5,
    ),
    Video(
        (640, 360),
        "noise",
        (Figure("waving", (0.5, 0.5), 0.86),),
        ("occupation", "waving", 105),
        occlude=("lwri",),
        visibility="char",
    ),
    Video(
        (640, 360),
        "gradient",
        (Figure("t_pose", (0.27, 0.5), 0.62), Figure("hands_on_hips", (0.74, 0.5), 0.8)),
        ("dancing", "folk dancing", 106),
    ),
    Video(
        (640, 360),
        "solid",
        (
            Figure("standing", (0.3, 0.5), 0.8),
            Figure("walking", (0.46, 0.52), 0.78, unannotated_frame=1),
            Figure("arms_up", (0.83, 0.5), 0.7, frames=(0, 1)),
        ),
        ("home activities", "standing, talking with family", 107),
        frames=3,
    ),
    Video((640, 360), "stripes", (Figure("kicking", (0.62, 0.5), 0.84),), ("sports", "martial arts", 108), drift=0.12),
    Video((360, 480), "noise", (Figure("squat", (0.5, 0.55), 0.62),), None, frames=5),
    Video((640, 360), "gradient", (Figure("reaching", (0.5, 0.5), 0.8),), ("sports", "golf", 109), train=False),
    Video((640, 360), "solid", (Figure("running", (0.5, 0.5), 0.86),), None, frames=1, in_video=False),
    Video((480, 360), "noise", (Figure("t_pose", (0.5, 0.5), 0.8),), None, frames=1, in_video=False),
    Video((640, 360), "stripes", (), None, frames=1, in_video=False),
)


def _muted(rng: np.random.Generator) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.1, 0.35), rng.uniform(0.25, 0.6))
    return np.array(rgb) * 255


def background(kind: str, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Muted (dark, low-saturation) backdrop so the saturated limbs stand out."""
    w, h = size
    a, b = _muted(rng), _muted(rng)
    if kind == "solid":
        arr = np.broadcast_to(a, (h, w, 3))
    elif kind == "gradient":
        t = np.linspace(0, 1, h)[:, None, None] if rng.random() < 0.5 else np.linspace(0, 1, w)[None, :, None]
        arr = a * (1 - t) + b * t + np.zeros((h, w, 1))
    elif kind == "noise":
        coarse = Image.fromarray((rng.random((5, 8, 3)) * 60 + a - 30).clip(0, 255).astype(np.uint8))
        arr = np.asarray(coarse.resize(size, Image.Resampling.BICUBIC), dtype=np.float64)
        arr = arr + rng.normal(0, 4, (h, w, 3))
    elif kind == "stripes":
        period = int(rng.integers(w // 14, w // 7))
        yy, xx = np.mgrid[0:h, 0:w]
        band = (((xx + yy * rng.uniform(-0.6, 0.6)) // period) % 2)[..., None]
        arr = np.where(band == 0, a, b)
    else:
        raise ValueError(f"unknown background {kind!r}")
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _look(rng: np.random.Generator, height_px: float) -> Look:
    shirt = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.35, 0.6), rng.uniform(0.45, 0.7))
    return Look(
        shirt=tuple(int(c * 255) for c in shirt),  # type: ignore[arg-type]
        skin=_SKIN[int(rng.integers(len(_SKIN)))],
        thickness=max(5, round(0.05 * height_px)),
    )


def apart(boxes: list[np.ndarray], k: int, margin: float) -> bool:
    """Person k's box (x1, y1, x2, y2), grown by ``margin`` px, overlaps no other person's box."""
    x1, y1, x2, y2 = boxes[k] + np.array([-margin, -margin, margin, margin])
    return not any(x1 < b[2] and b[0] < x2 and y1 < b[3] and b[1] < y2 for i, b in enumerate(boxes) if i != k)


def person_entry(
    joints: np.ndarray,
    vis: np.ndarray,
    size: tuple[int, int],
    *,
    train: bool,
    annotated: bool,
    visibility: str,
    blank: set[int],
    shuffle: bool,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """One annorect struct, 1-based. Joints off the image are not annotated; test persons get objpos/scale only."""
    centre, radius = head_circle(joints.astype(np.float64))
    top = min(joints[:, 1].min(), centre[1] - radius)
    objpos = {
        "x": float(np.rint((joints[:, 0].min() + joints[:, 0].max()) / 2)) + MATLAB_ORIGIN,
        "y": float(np.rint((top + joints[:, 1].max()) / 2)) + MATLAB_ORIGIN,
    }
    scale = round(float(joints[:, 1].max() - top) / MPII_SCALE_PX, 4)
    if not train:
        return {"scale": scale, "objpos": objpos}
    on_image = inside_image(joints, *size)
    points = []
    for j in range(MPII16.num_keypoints):
        if not on_image[j]:
            continue
        x, y = joints[j] + MATLAB_ORIGIN
        flag: Any = None if j in blank else (str(vis[j]) if visibility == "char" else float(vis[j]))
        points.append({"x": float(x), "y": float(y), "id": float(j), "is_visible": flag})
    if shuffle:
        points = [points[i] for i in rng.permutation(len(points))]
    box = np.rint([centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius])
    x1, y1, x2, y2 = box + MATLAB_ORIGIN
    return {
        "x1": float(x1),
        "y1": float(y1),
        "x2": float(x2),
        "y2": float(y2),
        "annopoints": {"point": points} if annotated else None,
        "scale": scale,
        "objpos": objpos,
    }


def _render_frame(
    video: Video, v: int, frame: int, poses: list[dict[str, float]], looks: list[Look], backdrop: Image.Image
) -> tuple[Image.Image, list[dict[str, Any]], list[int]]:
    """Draw one frame; return the image, its annorect entries and its 1-based single_person list."""
    rng = np.random.default_rng([SEED, v, frame])
    w, h = video.size
    canvas = Canvas(backdrop.copy())
    people = [k for k, f in enumerate(video.figures) if f.frames is None or frame in f.frames]
    placed: list[np.ndarray] = []
    for k in people:
        fig = video.figures[k]
        unit = pose_joints(jitter(poses[k], rng, 4.0))
        cx = (fig.centre[0] + video.drift * frame) * w + rng.normal(0, 0.01 * w)
        joints = place(unit, (cx, fig.centre[1] * h + rng.normal(0, 0.01 * h)), fig.height * h)
        canvas.person(joints, looks[k], label=len(placed) + 1)
        placed.append(joints)
    for name in video.occlude:
        joint = placed[0][_ID[name]]
        side = 0.22 * video.figures[0].height * h
        x0, y0 = joint + rng.uniform(-0.3, 0.3, 2) * side - side / 2
        colour = tuple(int(c) for c in rng.integers(60, 140, 3))
        canvas.occluder((int(x0), int(y0), int(x0 + side), int(y0 + side)), colour)  # type: ignore[arg-type]
    boxes = [np.array([*j.min(0), *j.max(0)], dtype=np.float64) for j in placed]
    single = [i + 1 for i in range(len(placed)) if apart(boxes, i, 0.05 * h)]
    blank = {_ID["rwri"], _ID["lwri"]} if frame == video.blank_visibility_frame else set()
    rects = [
        person_entry(
            joints,
            canvas.visible(joints, i + 1),
            video.size,
            train=video.train,
            annotated=video.figures[k].unannotated_frame != frame,
            visibility=video.visibility,
            blank=blank,
            shuffle=bool(rng.random() < 0.5),
            rng=rng,
        )
        for i, (k, joints) in enumerate(zip(people, placed, strict=True))
    ]
    return canvas.image, rects, single


def _names(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct 9-digit file names like the real ones (015601864.jpg)."""
    numbers: list[int] = []
    while len(numbers) < n:
        x = int(rng.integers(1, 10**9))
        if x not in numbers:
            numbers.append(x)
    return [f"{x:09d}.jpg" for x in numbers]


def generate(out: str | Path) -> Path:
    """Write ``images/*.jpg`` and the annotation file under ``out``; return the annotation file's path."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    video_ids = [
        "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"), 11))
        for v in VIDEOS
        if v.in_video
    ]
    entries: list[dict[str, Any]] = []
    vididx = 0
    for v, video in enumerate(VIDEOS):
        vrng = np.random.default_rng([SEED, v])
        backdrop = background(video.background, video.size, vrng)
        poses = [jitter(TEMPLATES[f.template], vrng, 6.0) for f in video.figures]
        looks = [_look(vrng, f.height * video.size[1]) for f in video.figures]
        vididx += video.in_video
        start = float(np.rint(vrng.uniform(5, 600)))
        for frame in range(video.frames):
            image, rects, single = _render_frame(video, v, frame, poses, looks, backdrop)
            entries.append(
                {
                    "image": image,
                    "annorect": rects,
                    "single": single,
                    "train": video.train,
                    "act": video.act,
                    "vididx": vididx if video.in_video else None,
                    "frame_sec": start + 2.0 * frame if video.in_video else None,
                }
            )
    order = rng.permutation(len(entries))  # the real annolist does not list frames of a video together
    entries = [entries[i] for i in order]
    names = _names(rng, len(entries))
    stale = sorted({p.name for p in (out / "images").glob("*.jpg")} - set(names))
    if stale:  # a mixed folder would no longer match its annotation file
        raise FileExistsError(
            f"{out / 'images'} holds {len(stale)} JPEGs this generator does not write "
            f"(e.g. {stale[0]}); generate into an empty folder"
        )
    for entry, name in zip(entries, names, strict=True):
        # Fixed JPEG settings: the same pixels always encode to the same bytes.
        entry["image"].save(
            out / "images" / name, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0", optimize=False, progressive=False
        )
    release = release_struct(
        [
            {"image": {"name": n}, "annorect": e["annorect"], "frame_sec": e["frame_sec"], "vididx": e["vididx"]}
            for n, e in zip(names, entries, strict=True)
        ],
        img_train=[int(e["train"]) for e in entries],
        single_person=[e["single"] for e in entries],
        act=[
            dict(zip(("cat_name", "act_name", "act_id"), e["act"], strict=True)) if e["act"] else None for e in entries
        ],
        video_list=video_ids,
        version="12",
    )
    return write_release(out / ANNOTATION_FILE, release)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for images/ and the .mat file")
    args = parser.parse_args(argv)
    mat = generate(args.out)
    print(f"wrote {mat} and {len(list((args.out / 'images').glob('*.jpg')))} images in {args.out / 'images'}")


if __name__ == "__main__":
    main()
