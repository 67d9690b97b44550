"""The demo page's handler, the `demo` / `push-demo` commands and the Space folder, without a browser."""

import base64
import json
import os
import subprocess
import sys

import pytest
from PIL import Image
from pose_model_fixtures import SAMPLE_IMAGES, as_hub_cache, drawn_image

from blip_pose.cli import main
from blip_pose.demo_app import DemoHandler, model_summary
from blip_pose.predictor import PosePredictor


@pytest.fixture(scope="module")
def handler(model_dir, tmp_path_factory):
    return DemoHandler(PosePredictor.from_pretrained(model_dir, device="cpu"), tmp_path_factory.mktemp("json"))


def test_upload_gives_overlay_rows_caption_and_json(handler):
    overlay, rows, caption, record, message = handler({"path": str(SAMPLE_IMAGES[0]), "orig_name": "me.jpg"})
    assert overlay.size == (640, 360) and len(rows) == 16 and rows[0][0] == "rankl"
    saved = json.loads(open(record).read())
    assert saved["caption"] == caption and saved["width"] == 640 and len(saved["joints"]) == 16
    assert message.endswith("joints found in me.jpg (640x360 px)")


def test_webcam_data_url_is_decoded(handler, tmp_path):
    data = base64.b64encode(drawn_image(tmp_path / "cam.png", (120, 80)).read_bytes()).decode()
    overlay, rows, *_ = handler({"url": f"data:image/png;base64,{data}", "orig_name": "webcam.png"})
    assert overlay.size == (480, 320) and len(rows) == 16  # a 120x80 photo, drawn 4x larger for legible text


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_bytes(SAMPLE_IMAGES[0].read_bytes()[:2000]) and p, "corrupt or truncated image"),
        (lambda p: p.write_text("not a photo") and p, "not a readable image file [not_an_image]"),
        (lambda p: drawn_image(p, (400, 300)), "decompression-bomb guard"),
    ],
    ids=["truncated", "text", "huge"],
)
def test_bad_upload_is_one_line_on_the_page(handler, tmp_path, monkeypatch, make, expected):
    if "bomb" in expected:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # 400x300 counts as huge: > 2x the limit
    path = make(tmp_path / "upload.jpg")
    overlay, rows, caption, record, message = handler({"path": str(path), "orig_name": "upload.jpg"})
    assert (overlay, rows, caption, record) == (None, [], "", None)
    assert message.startswith("**Cannot use this upload:** upload.jpg: ") and expected in message
    assert "\n" not in message and "Traceback" not in message


def test_bad_person_box_is_a_message(handler):
    message = handler({"path": str(SAMPLE_IMAGES[0])}, "10, 20, 5")[-1]
    assert "person box must be four numbers x0, y0, x1, y1" in message


def test_summary_says_when_the_model_learned_synthetic_data(model_dir, tmp_path):
    assert "what it was trained on is unknown" in model_summary(model_dir)
    for name in ("sample", "synthetic"):
        (tmp_path / "run_config.json").write_text(json.dumps({"data": {"dataset_name": name}}))
        assert "trained on synthetic data" in model_summary(tmp_path)
    # A synthetic folder given by path is known by the source its card recorded, not by its name.
    source = {"kind": "synthetic", "frames": 60, "seed": 3}
    (tmp_path / "run_config.json").write_text(
        json.dumps({"data": {"dataset_name": "/data/people", "dataset_source": source}})
    )
    assert "trained on synthetic data" in model_summary(tmp_path)
    (tmp_path / "run_config.json").write_text(json.dumps({"data": {"dataset_name": "mpii_pose_caption"}}))
    assert "synthetic" not in model_summary(tmp_path)


def test_demo_without_model_or_demo_run_says_make_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 2
    assert "run `make demo` first" in capsys.readouterr().err


def test_push_demo_refuses_a_local_folder(model_dir, capsys):
    assert main(["push-demo", str(model_dir), "--repo-id", "me/demo", "--dry-run"]) == 2
    assert "push it first" in capsys.readouterr().err


def test_space_folder_runs_from_its_own_files(model_dir, tmp_path, capsys):
    """The written Space imports blip_pose from its copy and loads the model by Hub id (from a local Hub cache)."""
    space = tmp_path / "space"
    assert main(["push-demo", "me/tiny-pose", "--repo-id", "me/pose-demo", "--dry-run", "--out", str(space)]) == 0
    listed = capsys.readouterr().out
    assert "app.py" in listed and "blip_pose/demo_app.py" in listed and "examples/" in listed
    assert not any(space.glob("*.safetensors")) and '"me/tiny-pose"' in (space / "app.py").read_text()
    requirements = (space / "requirements.txt").read_text().split()
    assert any(r.startswith("transformers") for r in requirements) and not any("blip" in r for r in requirements)
    cache = as_hub_cache(model_dir, tmp_path / "hub", "me/tiny-pose")
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    code = "import runpy, blip_pose; app = runpy.run_path('app.py'); print(blip_pose.__file__, type(app['demo']))"
    run = subprocess.run([sys.executable, "-c", code], cwd=space, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[0] == str(space / "blip_pose" / "__init__.py") and "Blocks" in run.stdout
