"""The browser demo as a Hugging Face Space: a folder that runs from its own files and PyPI.

The Space holds ``app.py`` (the page of :mod:`blip_pose.demo_app` around a model named by its Hub id: the weights
are downloaded by the Space, never copied into it), a copy of the ``blip_pose`` package source (the project is not
on PyPI, and a Space installs ``requirements.txt`` before its other files are present, so a wheel beside it could
not be installed), ``requirements.txt`` with the package's own PyPI dependencies, example photos, and a README whose
YAML header pins the Gradio version the demo was written for.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import gradio
from huggingface_hub.utils import validate_repo_id

from blip_pose.demo_app import SAMPLE_IMAGES_DIR
from blip_pose.hub import _upload, copy_package, metric_upload_files
from blip_pose.hub_auth import hub_api

DISTRIBUTION = "blip-pose"

APP = '''"""BLIP pose captions demo: the model {model_id} from the Hub, the page from blip_pose/ beside it."""

from pathlib import Path

from blip_pose.demo_app import build_demo, launch
from blip_pose.predictor import PosePredictor

MODEL_ID = "{model_id}"
examples = sorted(Path(__file__).with_name("examples").glob("*.jpg"))
demo = build_demo(PosePredictor.from_pretrained(MODEL_ID), MODEL_ID, examples)

if __name__ == "__main__":
    launch(demo)
'''

README = """---
title: {title}
emoji: 🤸
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {gradio_version}
app_file: app.py
pinned: false
models:
- {model_id}
tags:
- pose-estimation
- blip
---

# {title}

Upload a photo of one person: [`{model_id}`](https://huggingface.co/{model_id}), a BLIP captioner fine-tuned to
write the 16 MPII joints as text, draws the skeleton and lists the joints in the photo's pixels (JSON download).

Written by `python -m blip_pose push-demo {model_id} --repo-id {repo_id}`; `blip_pose/` is a copy of the project's
package source, `requirements.txt` its dependencies.
"""


def space_requirements() -> list[str]:
    """The installed ``blip-pose`` distribution's own dependencies (no extras; gradio comes with the Space SDK)."""
    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the {DISTRIBUTION} distribution is not installed (pip install -e .): its dependencies make "
            "the Space's requirements.txt"
        ) from None
    return [r.split(";")[0].strip() for r in requires if not re.search(r"extra\s*==", r)]


def write_space(
    model_id: str, repo_id: str, out_dir: str | Path, examples: Sequence[str | Path] | None = None
) -> list[str]:
    """Write the Space folder of ``model_id`` (a Hub model id) for ``repo_id`` into ``out_dir``; its files, sorted."""
    if Path(model_id).exists():
        raise ValueError(
            f"{model_id}: a local folder; a Space loads its model from the Hub: push it first "
            f"(python -m blip_pose push {model_id} --repo-id USER/NAME) and pass that Hub id"
        )
    validate_repo_id(model_id)
    validate_repo_id(repo_id)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: not empty; the Space folder is written to a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    title = "BLIP pose captions: " + model_id.split("/")[-1]
    (out / "app.py").write_text(APP.format(model_id=model_id))
    (out / "README.md").write_text(
        README.format(title=title, gradio_version=gradio.__version__, model_id=model_id, repo_id=repo_id)
    )
    (out / "requirements.txt").write_text("\n".join(space_requirements()) + "\n")
    copy_package(out)
    (out / "examples").mkdir()
    for path in sorted(SAMPLE_IMAGES_DIR.glob("*.jpg"))[:6] if examples is None else map(Path, examples):
        shutil.copy2(path, out / "examples" / path.name)
    return metric_upload_files(out)


def push_space(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create (or reuse) the Gradio Space ``repo_id`` and upload a folder from :func:`write_space`; the commit URL."""
    folder = Path(folder)
    api = hub_api(token)
    message = f"Upload BLIP pose demo {folder.name}"
    return _upload(api, folder, metric_upload_files(folder), repo_id, "space", message, private)
