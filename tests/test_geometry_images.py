"""Box geometry (forward/inverse/apply), safe image opening and overlays."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from blip_pose.geometry import Preprocessing, crop_transform, resize_transform
from blip_pose.images import ImageError, open_image, safe_join, to_rgb
from blip_pose.overlay import draw_comparison, draw_pose


def test_resize_maps_corners_and_inverts_exactly():
    t = resize_transform(1280, 720, 384)
    pts = np.array([[0, 0], [1280, 720], [640, 360], [100.25, 33.5]])
    fwd = t.forward(pts)
    np.testing.assert_allclose(fwd[:3], [[0, 0], [384, 384], [192, 192]])
    np.testing.assert_allclose(t.inverse(fwd), pts, atol=1e-9)
    assert t.scale == (0.3, 384 / 720)


def test_crop_is_square_around_centre_and_inverts_exactly():
    t = crop_transform((500, 300), scale=2.0, size=384, padding=1.25)  # side = 200 * 2 * 1.25 = 500
    assert t.box == (250, 50, 750, 550)
    np.testing.assert_allclose(t.forward([[500, 300, 1]]), [[192, 192, 1]])  # extra columns kept
    pts = np.random.default_rng(0).uniform(-100, 900, (16, 2))
    np.testing.assert_allclose(t.inverse(t.forward(pts)), pts, atol=1e-9)
    with pytest.raises(ValueError, match="scale"):
        crop_transform((1, 1), scale=0, size=384)


def _marker_image(w, h, at):
    img = Image.new("RGB", (w, h), "black")
    img.paste((255, 255, 255), (at[0] - 3, at[1] - 3, at[0] + 3, at[1] + 3))
    return img


def test_apply_puts_a_marker_where_forward_says():
    img = _marker_image(640, 360, (500, 100))
    for t in (resize_transform(640, 360, 384), crop_transform((450, 150), 1.0, 384)):
        out = np.asarray(t.apply(img).convert("L"), dtype=float)
        ys, xs = np.nonzero(out > 128)
        expected = t.forward([[500, 100]])[0]
        assert abs(xs.mean() - expected[0]) < 2 and abs(ys.mean() - expected[1]) < 2


def test_shrinking_filters_instead_of_aliasing_for_resize_and_out_of_bounds_crop():
    # 1-px black/white columns shrunk 4x must average to flat grey, not to stripes of sampled pixels.
    stripes = Image.fromarray((np.indices((400, 1600))[1] % 2 * 255).astype("uint8")).convert("RGB")
    # Non-integer ratios (4.4 and 3.7): point sampling would beat against the stripes.
    for t in (
        resize_transform(1600, 400, 364),
        crop_transform((800, 200), 8.0, 400, padding=1.1),
        crop_transform((800, 200), 8.0, 400, padding=0.93),
    ):
        out = np.asarray(t.apply(stripes).convert("L"), dtype=float)
        inside = out[190:210, 150:250]  # rows of the crop that lie inside the source image
        assert inside.std() < 5 and abs(inside.mean() - 127.5) < 10, t.box


def test_apply_with_draft_decoded_image_uses_original_size():
    img = _marker_image(640, 360, (500, 100))
    small = img.resize((320, 180))
    t = crop_transform((450, 150), 1.0, 384)
    a = np.asarray(t.apply(img).convert("L"), dtype=float)
    b = np.asarray(t.apply(small, original_size=(640, 360)).convert("L"), dtype=float)
    assert np.abs(np.argwhere(a > 128).mean(0) - np.argwhere(b > 128).mean(0)).max() < 3


def test_preprocessing_record_round_trip(tmp_path):
    rec = Preprocessing(mode="crop", image_size=256, crop_padding=1.5)
    rec.save(tmp_path)
    assert Preprocessing.load(tmp_path) == rec
    assert rec.transform(100, 100, center=(50, 50), scale=1.0).box == (-100, -100, 200, 200)
    with pytest.raises(ValueError, match="centre and scale"):
        rec.transform(100, 100)
    (tmp_path / "preprocessing.json").write_text(json.dumps({"mode": "resize", "size": 3}))
    with pytest.raises(ValueError, match="unknown keys.*size"):
        Preprocessing.load(tmp_path)
    with pytest.raises(ValueError, match="mode"):
        Preprocessing(mode="warp")


@pytest.mark.parametrize("name", ["../x.jpg", "a/../../x.jpg", "/etc/passwd", "C:\\x.jpg", ""])
def test_safe_join_refuses_escaping_names(tmp_path, name):
    with pytest.raises(ImageError) as err:
        safe_join(tmp_path, name)
    assert err.value.reason == "unsafe_name"


def test_safe_join_accepts_plain_names(tmp_path):
    assert safe_join(tmp_path, "sub/a.jpg") == (tmp_path / "sub/a.jpg").resolve()


def _encode(img, fmt="JPEG", **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16"])
def test_modes_become_rgb(mode):
    img = Image.new(mode, (20, 10))
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    out, size = open_image(_encode(img, fmt), name="x")
    assert out.mode == "RGB" and size == (20, 10)


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb(img).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_transposed_or_refused():
    img = Image.new("RGB", (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    data = _encode(img, exif=exif.tobytes())
    out, size = open_image(data, name="rot.jpg")
    assert out.size == (20, 40) and size == (20, 40)
    with pytest.raises(ImageError) as err:
        open_image(data, name="rot.jpg", exif="refuse")
    assert err.value.reason == "exif_orientation" and "rot.jpg" in str(err.value)


def test_bad_files_name_the_file_and_reason(tmp_path, monkeypatch):
    with pytest.raises(ImageError, match="nope.jpg.*missing_image"):
        open_image(tmp_path / "nope.jpg")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ImageError, match="text.jpg.*not_an_image"):
        open_image(tmp_path / "text.jpg")
    data = _encode(Image.effect_noise((200, 200), 50).convert("RGB"))
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.jpg.*corrupt_image"):
        open_image(tmp_path / "cut.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    (tmp_path / "big.png").write_bytes(_encode(Image.new("RGB", (20, 20)), "PNG"))  # 400 px > 100: warning zone
    with pytest.raises(ImageError, match="big.png.*decompression_bomb"):
        open_image(tmp_path / "big.png")


def test_draft_mode_decodes_smaller_but_reports_full_size():
    data = _encode(Image.new("RGB", (2560, 1440), "gray"))
    img, size = open_image(data, draft_size=(384, 384))
    # JPEG draft scales by powers of two but never below the requested size: 1440 / 2 = 720 >= 384 > 1440 / 4.
    assert size == (2560, 1440) and img.size == (1280, 720)


def test_overlay_draws_found_joints_only():
    img = Image.new("RGB", (100, 100), "black")
    xy = np.tile([[50.0, 50.0]], (16, 1))
    found = np.zeros(16, bool)
    blank = np.asarray(draw_pose(img, xy, found, names=False))
    zoom = blank.shape[1] // 100  # small images are drawn enlarged by a whole factor (overlay.MIN_SIDE)
    assert blank.shape == (100 * zoom, 100 * zoom, 3)
    centre = slice(40 * zoom, 60 * zoom)
    assert blank[centre, centre].max() == 0  # nothing drawn where the missing joints would be
    found[6] = True
    drawn = np.asarray(draw_pose(img, xy, found, names=False))
    near = slice(48 * zoom, 53 * zoom)
    assert drawn[near, near].max() > 0
    both = draw_comparison(img, xy, found, xy)
    assert both.size == (100 * zoom, 100 * zoom)
    nan_ref = xy.copy()
    nan_ref[:8] = np.nan  # a reference that only has some joints (simple_text) draws without error
    partial = np.asarray(draw_pose(img, nan_ref, names=False))
    assert partial.shape == blank.shape
