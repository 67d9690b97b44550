"""Articulated stick figures for the synthetic sample: joint positions from plausible limb angles, and drawing.

A pose is a set of absolute limb angles (degrees, 0 = pointing down the image, 90 = pointing right) and body
proportions; :func:`pose_joints` turns it into the 16 MPII joints. Limbs are thick and each side has its own
colours (right warm, left cool) and every joint its own disc colour, so a tiny model can tell left from right.
Every figure is also drawn into a label image (one value per person, :data:`OCCLUDER_LABEL` for occluders), so a
joint's visibility is read off exactly: visible when the pixel under it still belongs to its own person.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from blip_pose.geometry import inside_image
from blip_pose.keypoints.mpii import MPII16

#: MPII caption token -> joint id.
_ID = {caption: i for i, caption in enumerate(MPII16.captions)}

OCCLUDER_LABEL = 255

#: Body proportions as fractions of the standing height (head top to ankle).
PROPORTIONS: dict[str, float] = dict(
    torso=0.28,
    neck=0.05,
    head=0.13,
    thigh=0.245,
    shin=0.245,
    upper_arm=0.17,
    forearm=0.15,
    hip_half=0.065,
    shoulder_half=0.11,
)

#: Limb angles of each pose (right limbs lie on the image's left for a figure facing the camera).
#: ``width`` < 1 narrows hips and shoulders for side and three-quarter views.
TEMPLATES: dict[str, dict[str, float]] = {
    "standing": dict(
        lean=0,
        head=0,
        r_thigh=-4,
        r_shin=-2,
        l_thigh=4,
        l_shin=2,
        r_upper=-12,
        r_fore=-6,
        l_upper=12,
        l_fore=6,
        width=1.0,
    ),
    "walking": dict(
        lean=4,
        head=3,
        r_thigh=-18,
        r_shin=-8,
        l_thigh=16,
        l_shin=38,
        r_upper=20,
        r_fore=45,
        l_upper=-15,
        l_fore=-5,
        width=0.6,
    ),
    "arms_up": dict(
        lean=0,
        head=0,
        r_thigh=-10,
        r_shin=-4,
        l_thigh=10,
        l_shin=4,
        r_upper=-155,
        r_fore=-175,
        l_upper=155,
        l_fore=175,
        width=1.0,
    ),
    "t_pose": dict(
        lean=0,
        head=0,
        r_thigh=-6,
        r_shin=-3,
        l_thigh=6,
        l_shin=3,
        r_upper=-90,
        r_fore=-90,
        l_upper=90,
        l_fore=90,
        width=1.0,
    ),
    "waving": dict(
        lean=-3,
        head=-5,
        r_thigh=-5,
        r_shin=-2,
        l_thigh=6,
        l_shin=3,
        r_upper=-115,
        r_fore=172,
        l_upper=10,
        l_fore=5,
        width=1.0,
    ),
    "hands_on_hips": dict(
        lean=0,
        head=4,
        r_thigh=-8,
        r_shin=-3,
        l_thigh=8,
        l_shin=3,
        r_upper=-35,
        r_fore=45,
        l_upper=35,
        l_fore=-45,
        width=1.0,
    ),
    "sitting": dict(
        lean=-6,
        head=-4,
        r_thigh=85,
        r_shin=4,
        l_thigh=80,
        l_shin=-6,
        r_upper=20,
        r_fore=80,
        l_upper=12,
        l_fore=70,
        width=0.35,
    ),
    "squat": dict(
        lean=0,
        head=0,
        r_thigh=-62,
        r_shin=14,
        l_thigh=62,
        l_shin=-14,
        r_upper=-30,
        r_fore=-62,
        l_upper=30,
        l_fore=62,
        width=1.0,
    ),
    "kicking": dict(
        lean=10,
        head=5,
        r_thigh=-70,
        r_shin=-85,
        l_thigh=3,
        l_shin=0,
        r_upper=-60,
        r_fore=-40,
        l_upper=70,
        l_fore=95,
        width=0.9,
    ),
    "running": dict(
        lean=12,
        head=6,
        r_thigh=45,
        r_shin=-8,
        l_thigh=-30,
        l_shin=-75,
        r_upper=-30,
        r_fore=60,
        l_upper=35,
        l_fore=100,
        width=0.4,
    ),
    "reaching": dict(
        lean=-35,
        head=-10,
        r_thigh=-5,
        r_shin=-2,
        l_thigh=6,
        l_shin=2,
        r_upper=-70,
        r_fore=-75,
        l_upper=-50,
        l_fore=-62,
        width=0.9,
    ),
}

# Colours: right side warm, left side cool, trunk neutral; joint discs each distinct, with a dark outline.
_LIMB_COLOUR = {
    "r_leg": (225, 35, 35),
    "l_leg": (35, 85, 230),
    "r_arm": (245, 175, 0),
    "l_arm": (0, 185, 95),
    "trunk": (240, 240, 240),
}
JOINT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (255, 120, 0),
    (255, 185, 110),
    (120, 205, 255),
    (0, 160, 255),
    (0, 50, 255),
    (255, 255, 255),
    (150, 150, 150),
    (255, 0, 255),
    (130, 0, 255),
    (255, 240, 0),
    (190, 255, 0),
    (255, 140, 190),
    (0, 120, 80),
    (0, 255, 225),
    (0, 255, 110),
)
_ARM = {_ID[n] for n in ("rwri", "relb", "rsho", "lwri", "lelb", "lsho")}
_HEAD_SEGMENT = (_ID["upper_neck"], _ID["head"])


def _limb_colour(a: int, b: int) -> tuple[int, int, int]:
    ends = {a, b}
    part = "arm" if ends & _ARM else "leg"
    if ends & MPII16.right:
        return _LIMB_COLOUR[f"r_{part}"]
    if ends & MPII16.left:
        return _LIMB_COLOUR[f"l_{part}"]
    return _LIMB_COLOUR["trunk"]


def _dir(deg: float) -> np.ndarray:
    rad = np.deg2rad(deg)
    return np.array([np.sin(rad), np.cos(rad)])


def jitter(template: Mapping[str, float], rng: np.random.Generator, sd: float) -> dict[str, float]:
    """The template's angles moved by N(0, sd) degrees each (width unchanged)."""
    return {k: v if k == "width" else v + float(rng.normal(0.0, sd)) for k, v in template.items()}


def pose_joints(pose: Mapping[str, float], proportions: Mapping[str, float] = PROPORTIONS) -> np.ndarray:
    """Joints (16, 2) of a figure of height ~1 with the pelvis at the origin, y down, in MPII id order.

    ``proportions`` has the keys of :data:`PROPORTIONS` (segment lengths as fractions of the standing height).
    """
    p = proportions
    j = np.zeros((MPII16.num_keypoints, 2))
    up = _dir(180 + pose["lean"])
    right = np.array([up[1], -up[0]]) * pose["width"]  # the figure's right is the image's left when facing us
    ids = _ID
    j[ids["thorax"]] = p["torso"] * up
    j[ids["upper_neck"]] = j[ids["thorax"]] + p["neck"] * _dir(180 + pose["lean"] + pose["head"] / 2)
    j[ids["head"]] = j[ids["upper_neck"]] + p["head"] * _dir(180 + pose["lean"] + pose["head"])
    for side, sign in (("r", 1.0), ("l", -1.0)):
        hip = sign * p["hip_half"] * right
        knee = hip + p["thigh"] * _dir(pose[f"{side}_thigh"])
        sho = j[ids["thorax"]] + sign * p["shoulder_half"] * right
        elb = sho + p["upper_arm"] * _dir(pose[f"{side}_upper"])
        j[ids[f"{side}hip"]], j[ids[f"{side}knee"]] = hip, knee
        j[ids[f"{side}ankl"]] = knee + p["shin"] * _dir(pose[f"{side}_shin"])
        j[ids[f"{side}sho"]], j[ids[f"{side}elb"]] = sho, elb
        j[ids[f"{side}wri"]] = elb + p["forearm"] * _dir(pose[f"{side}_fore"])
    return j


def head_circle(joints: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and radius of the head disc: it spans upper neck to head top."""
    neck, top = joints[_ID["upper_neck"]], joints[_ID["head"]]
    return (neck + top) / 2, float(np.linalg.norm(top - neck)) / 2


def place(joints: np.ndarray, centre: tuple[float, float], height: float) -> np.ndarray:
    """Scale a unit figure so its extent (with the head disc) is ``height`` px tall, centred on ``centre``."""
    c, r = head_circle(joints)
    lo = np.minimum(joints.min(0), c - r)
    hi = np.maximum(joints.max(0), c + r)
    scaled = (joints - (lo + hi) / 2) * (height / (hi - lo)[1])
    return np.rint(scaled + np.asarray(centre)).astype(np.int64)  # integer pixels: the labels are exact


@dataclass(frozen=True)
class Look:
    """What differs between people: clothes, skin and limb thickness (limb colours are fixed for learnability)."""

    shirt: tuple[int, int, int]
    skin: tuple[int, int, int]
    thickness: int
    outline: int = 2  # width of the dark ring around each joint disc (small figures need a thin one)


class Canvas:
    """An RGB image plus the label image that records which person (or occluder) owns each pixel."""

    def __init__(self, background: Image.Image) -> None:
        self.image = background.convert("RGB")
        self.labels = Image.new("L", self.image.size, 0)
        self._rgb = ImageDraw.Draw(self.image)
        self._lab = ImageDraw.Draw(self.labels)

    def _line(self, a: np.ndarray, b: np.ndarray, colour: tuple[int, int, int], width: int, label: int) -> None:
        pts = [tuple(map(int, a)), tuple(map(int, b))]
        self._rgb.line(pts, fill=colour, width=width)
        self._lab.line(pts, fill=label, width=width)

    def _disc(self, c: np.ndarray, r: float, colour: tuple[int, int, int], label: int, outline: int) -> None:
        box = [float(c[0] - r), float(c[1] - r), float(c[0] + r), float(c[1] + r)]
        self._rgb.ellipse(box, fill=colour, outline=(20, 20, 20) if outline else None, width=outline)
        self._lab.ellipse(box, fill=label)

    def person(self, joints: np.ndarray, look: Look, label: int) -> None:
        """Draw a figure: torso block, limbs, head disc, then one outlined disc per joint."""
        ids = _ID
        torso = [tuple(map(int, joints[ids[n]])) for n in ("rsho", "lsho", "lhip", "rhip")]
        self._rgb.polygon(torso, fill=look.shirt)
        self._lab.polygon(torso, fill=label)
        for a, b in MPII16.skeleton:
            if (a, b) != _HEAD_SEGMENT:  # drawn as the head disc instead
                self._line(joints[a], joints[b], _limb_colour(a, b), look.thickness, label)
        centre, radius = head_circle(joints)
        self._disc(centre, radius, look.skin, label, outline=0)
        for j in range(MPII16.num_keypoints):
            self._disc(joints[j], look.thickness * 0.6, JOINT_COLOURS[j], label, outline=look.outline)

    def occluder(self, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
        """A solid box in front of everything drawn so far (a crate, a sign)."""
        self._rgb.rectangle(box, fill=colour, outline=(30, 30, 30), width=3)
        self._lab.rectangle(box, fill=OCCLUDER_LABEL)

    def visible(self, joints: np.ndarray, label: int) -> np.ndarray:
        """Int (16,) 1 where the pixel under a joint still shows person ``label``; joints off the image get 0."""
        lab = np.asarray(self.labels)
        h, w = lab.shape
        x, y = joints[:, 0], joints[:, 1]
        inside = inside_image(joints, w, h)
        out = np.zeros(len(joints), dtype=np.int64)
        out[inside] = lab[y[inside], x[inside]] == label
        return out
