"""The browser demo: a Gradio Blocks page around a :class:`~blip_pose.predictor.PosePredictor`.

One photo in (upload or webcam, optionally a person box for crop models); out come the skeleton overlay, the
model's joints (its keypoint set, MPII's 16 by default) in the photo's own pixels, the raw caption and a JSON
download. Uploads are decoded by :func:`blip_pose.images.open_image` (the project's bomb guard and error reasons),
not by Gradio, so a file that is not an image, is corrupt or is too large ends as one line on the page instead of
a stack trace.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Offline by default: no telemetry or version check calls home when gradio is imported or launched.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from blip_pose.images import ImageError, open_image
from blip_pose.keypoints import DEFAULT_SPEC
from blip_pose.model_files import optional_file
from blip_pose.overlay import SIDE_COLORS, draw_pose
from blip_pose.predictor import PosePrediction, PosePredictor
from blip_pose.run_folder import RUN_CONFIG_FILE
from blip_pose.run_record import flatten_run_config, read_json, synthetic_data_note

#: Where the bundled sample photos lie in a checkout or an installed tree (found by path, never imported).
SAMPLE_IMAGES_DIR = Path(__file__).resolve().parents[1] / "mpii_pose_dataset" / "sample" / "images"
#: Uploads above this size are refused: by Gradio's upload route, and by :func:`_image_source` for every other way an
#: image arrives (a webcam or pasted data URL, a path), which that route never sees.
MAX_FILE_MB = 20
MAX_FILE_SIZE = f"{MAX_FILE_MB}mb"
MAX_FILE_BYTES = MAX_FILE_MB * gr.FileSize.MB
TABLE_HEADERS = ["joint", "x", "y", "found"]
# System fonts: the default theme would ask Google Fonts, which an offline machine cannot reach.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def model_summary(model_id: str | Path) -> str:
    """Markdown lines on what the model was trained on (its ``run_config.json``), for the page's header."""
    try:
        path = optional_file(str(model_id), RUN_CONFIG_FILE)
        config = flatten_run_config(read_json(path)) if path else {}
    except (OSError, ValueError) as err:  # an unreadable record must not keep the demo from starting
        config, path = {}, None
        note = f"(could not read its training record: {err})"
    else:
        note = "(no training record `run_config.json`: what it was trained on is unknown)"
    lines = [f"**Model:** `{model_id}`"]
    if not config:
        return "  \n".join([*lines, note])
    dataset = config.get("dataset_name", "?")
    subset = f" (config `{config['dataset_config_name']}`)" if config.get("dataset_config_name") else ""
    start = f" from `{config['model_name_or_path']}`" if config.get("model_name_or_path") else ""
    lines.append(f"**Trained on:** `{dataset}`{subset}{start}, caption column `{config.get('caption_column', 'text')}`")
    synthetic = synthetic_data_note(config)  # the dataset's recorded source decides, so a folder by path counts too
    if synthetic:
        lines.append(
            f"**Warning: trained on synthetic data** ({synthetic}): a demonstration model, "
            "not a pose estimator for real images — expect its joints on a real photo to be wrong."
        )
    return "  \n".join(lines)


def parse_box(text: str | None) -> list[float] | None:
    """``"x0, y0, x1, y1"`` -> four floats; empty -> None; anything else -> ValueError saying the expected form."""
    if not text or not text.strip():
        return None
    parts = text.replace(",", " ").split()
    try:
        box = [float(p) for p in parts]
    except ValueError:
        box = []
    if len(box) != 4 or not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f"person box must be four numbers x0, y0, x1, y1 with x1 > x0 and y1 > y0, got {text!r}")
    return box


def _too_large(size: int, name: str) -> ValueError:
    return ValueError(f"{name}: {size / gr.FileSize.MB:.1f} MB is over the demo's {MAX_FILE_MB} MB upload limit")


def _image_source(payload: Any) -> tuple[str | bytes, str]:
    """Gradio's raw image payload (uploaded file or webcam data URL) -> (path or bytes, name for messages).

    Raises:
        ValueError: an image over :data:`MAX_FILE_BYTES`, however it came (measured before a data URL is decoded).
    """
    data = payload if isinstance(payload, dict) else {"path": payload}
    name = data.get("orig_name") or Path(str(data.get("path") or "image")).name
    url = data.get("url") or ""
    if not data.get("path") and url.startswith("data:"):
        encoded = url.split(",", 1)[1] if "," in url else ""
        size = len(encoded) * 3 // 4 - encoded[-2:].count("=")  # the decoded size, without decoding
        if size > MAX_FILE_BYTES:
            raise _too_large(size, name)
        return base64.b64decode(encoded), name
    path = str(data.get("path"))
    if os.path.isfile(path) and os.path.getsize(path) > MAX_FILE_BYTES:
        raise _too_large(os.path.getsize(path), name)
    return path, name


def _rows(pose: PosePrediction) -> list[list[Any]]:
    return [
        [j.name, None if j.x is None else round(j.x, 1), None if j.y is None else round(j.y, 1), j.found]
        for j in pose.joints
    ]


def _legend() -> str:
    swatch = '<span style="color:rgb{};font-size:1.2em">&#9679;</span> {}'
    return " &nbsp; ".join(swatch.format(rgb, side) for side, rgb in SIDE_COLORS.items())


class DemoHandler:
    """The page's one event: a raw upload (and box text) -> overlay, joint rows, caption, JSON file, message."""

    def __init__(self, predictor: PosePredictor, out_dir: str | Path | None = None) -> None:
        self.predictor = predictor
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="blip-pose-demo-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, payload: Any, box_text: str | None = None) -> tuple[Any, ...]:
        if not payload:
            return None, [], "", None, ""
        try:
            source, name = _image_source(payload)
            box = parse_box(box_text)
            image, _ = open_image(source, name=name, exif="transpose")
            pose = self.predictor.predict_images([image], [box], [name])[0]
        except (ImageError, ValueError, OSError) as err:
            return None, [], "", None, f"**Cannot use this upload:** {err}"
        spec, joints = self.predictor.spec, self.predictor.caption_joints
        overlay = draw_pose(image, pose.xy, pose.found, label="prediction", joints=joints, spec=spec)
        record = self.out_dir / f"{Path(name).stem or 'image'}-pose.json"
        record.write_text(json.dumps(pose.to_dict(), indent=2))
        found = int(pose.found.sum())
        message = f"{found}/{spec.num_keypoints} joints found in {name} ({pose.width}x{pose.height} px)"
        return overlay, _rows(pose), pose.caption, str(record), message


def build_demo(
    predictor: PosePredictor, model_id: str | Path, examples: Sequence[str | Path] | None = None
) -> gr.Blocks:
    """The demo page. ``examples``: image paths shown one click away (default: the bundled sample's photos)."""
    if examples is None:
        examples = sorted(SAMPLE_IMAGES_DIR.glob("*.jpg"))[:6]
    handler = DemoHandler(predictor)
    with gr.Blocks(title="BLIP pose captions") as demo:
        spec = predictor.spec
        written = "16 MPII joints" if spec == DEFAULT_SPEC else f"{spec.num_keypoints} {spec.name} keypoints"
        gr.Markdown(f"# BLIP pose captions\nUpload a photo of one person: the model writes its {written} as text.")
        gr.Markdown(model_summary(model_id), elem_id="model-summary")
        with gr.Row():
            with gr.Column():
                image = gr.Image(label="photo", sources=["upload", "webcam"], type="filepath", elem_id="photo")
                box = gr.Textbox(
                    label="person box (optional, crop models)", placeholder="x0, y0, x1, y1 in the photo's pixels"
                )
                run = gr.Button("Estimate pose", variant="primary")
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[image], label="examples (bundled sample)")
            with gr.Column():
                message = gr.Markdown(elem_id="message")
                # No label badge: it would sit over the overlay's own header (its label and colour key).
                overlay = gr.Image(label="skeleton", show_label=False, type="pil", interactive=False, elem_id="overlay")
                gr.Markdown(_legend())
                table = gr.Dataframe(headers=TABLE_HEADERS, label="joints (uploaded image's pixels)", elem_id="joints")
                caption = gr.Textbox(label="raw caption", elem_id="caption")
                download = gr.File(label="JSON", elem_id="json")
        # preprocess=False: the raw upload reaches DemoHandler, whose decoder turns bad files into a message.
        gr.on(
            [image.change, run.click],
            handler,
            inputs=[image, box],
            outputs=[overlay, table, caption, download, message],
            preprocess=False,
        )
    return demo


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """``demo.launch`` with the project's theme and upload limit."""
    return demo.launch(theme=THEME, max_file_size=MAX_FILE_SIZE, **kwargs)
