"""Issue 13 trap 8, by pixels: one overlay look everywhere (side colours, prediction vs ground truth), sizes that
follow the image, names that avoid each other, and notes that stay inside the image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from blip_pose.keypoints.mpii import MPII16
from blip_pose.overlay import (
    MIN_SIDE,
    SIDE_COLORS,
    Style,
    draw_comparison,
    draw_pose,
    place_labels,
    side,
    wrap,
)

# A standing person in a unit square (MPII id order), scaled per test.
POSE = np.array(
    [[0.40, 0.93], [0.41, 0.75], [0.43, 0.55], [0.55, 0.55], [0.57, 0.75], [0.58, 0.93], [0.49, 0.55], [0.49, 0.30],
     [0.49, 0.25], [0.49, 0.12], [0.33, 0.55], [0.35, 0.42], [0.40, 0.29], [0.58, 0.29], [0.63, 0.42], [0.65, 0.55]]
)  # fmt: skip
GREY = (90, 90, 90)


def _pixel(image: Image.Image, xy) -> tuple[int, int, int]:
    return image.getpixel((round(xy[0]), round(xy[1])))


def test_joint_colours_say_the_side_in_every_overlay_kind():
    image = Image.new("RGB", (600, 600), GREY)
    xy = POSE * 600
    found = np.ones(MPII16.num_keypoints, bool)
    for overlay in (draw_pose(image, xy, found, names=False), draw_comparison(image, xy + 0.0, found, xy)):
        for joint in (0, 5, 6):  # rankl, lankl, pelvis: right, left, centre
            assert _pixel(overlay, xy[joint]) == SIDE_COLORS[side(joint)], MPII16.captions[joint]
    assert [side(j) for j in (0, 5, 6)] == ["right", "left", "centre"]


def test_ground_truth_rings_and_prediction_discs_are_told_apart():
    image = Image.new("RGB", (600, 600), GREY)
    truth = POSE * 600
    pred = truth + [40.0, 0.0]  # every predicted joint 40 px right of its truth
    out = draw_comparison(image, pred, np.ones(MPII16.num_keypoints, bool), truth)
    r = Style.for_size(600, 600).radius
    for joint in (0, 5, 6):
        colour = SIDE_COLORS[side(joint)]
        assert _pixel(out, pred[joint]) == colour  # a filled disc
        assert _pixel(out, truth[joint]) != colour  # a ring: not filled ...
        ring = [_pixel(out, truth[joint] + [dx, 0]) for dx in range(-r - 2, r + 3)]
        assert colour in ring  # ... but drawn around the joint in the same colour


@pytest.mark.parametrize(("size", "zoom"), [((64, 48), 6), ((1920, 1080), 1), ((384, 384), 1)])
def test_sizes_follow_the_image(size, zoom):
    style = Style.for_size(*size)
    assert style.zoom == zoom and min(size) * zoom >= MIN_SIDE
    out = draw_pose(Image.new("RGB", size, GREY), POSE * min(size), names=True, label="x.jpg")
    assert out.size == (size[0] * zoom, size[1] * zoom)
    # Text is a few percent of the drawn image: not larger than it (64x48) nor ~10 px on a 1080p frame.
    assert 11 <= style.font_size and style.font_size * 8 <= min(out.size)
    if size == (1920, 1080):
        assert style.font_size >= 28 and style.line >= 5
        # A limb is `line` px wide: count its pixels across a horizontal scan through the right shin.
        a, b = POSE[0] * 1080, POSE[1] * 1080
        y = round((a[1] + b[1]) / 2)
        row = np.asarray(out)[y, :, :]
        red = np.flatnonzero((row == SIDE_COLORS["right"]).all(-1))
        assert style.line - 1 <= len(red) <= style.line + 2


def test_names_that_would_collide_take_other_places_or_are_left_out():
    # rhip and pelvis 6 px apart: their names used to print over each other.
    points = np.array([[100.0, 100.0], [106.0, 100.0], [103.0, 104.0]])
    sizes = [(40.0, 12.0)] * 3
    boxes = place_labels(points, sizes, (300, 300), gap=4, taken=[(0, 0, 300, 20)])
    placed = [b for b in boxes if b is not None]
    assert len(placed) == 3
    for i, a in enumerate(placed):
        assert a[1] >= 20  # never under the header
        for b in placed[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    crowded = place_labels(np.tile([[5.0, 5.0]], (3, 1)), sizes, (50, 30), gap=2, taken=[])
    assert None in crowded  # no free place: dropped, never drawn over another name


def test_names_are_drawn_only_when_asked():
    image = Image.new("RGB", (600, 600), GREY)
    with_names = np.asarray(draw_pose(image, POSE * 600))
    without = np.asarray(draw_pose(image, POSE * 600, names=False))
    white = (with_names == 255).all(-1).sum()
    assert white > (without == 255).all(-1).sum() + 200  # the names' white letters


def test_missing_note_wraps_inside_a_small_image():
    image = Image.new("RGB", (64, 48), GREY)
    out = draw_pose(image, POSE * 48, np.zeros(MPII16.num_keypoints, bool), label="tiny.jpg")
    style = Style.for_size(64, 48)
    lines = wrap("missing: " + " ".join(MPII16.captions), style.font, out.width - 4 * max(3, style.font_size // 4))
    assert len(lines) >= 2 and all(style.font.getlength(line) <= out.width for line in lines)
    # The note's darkened panel ends at the bottom edge: the text is inside, above it the image is untouched.
    pixels = np.asarray(out).astype(int)
    changed_rows = np.flatnonzero((pixels != GREY).any(-1).any(-1))
    note_top = out.height - (len(lines) * (style.font_size + max(3, style.font_size // 4))) - 4
    assert changed_rows.max() == out.height - 1
    assert not (pixels[60:note_top] != GREY).any()  # between header and note nothing is drawn (no joint found)
