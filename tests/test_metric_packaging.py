"""Trap 3 of issue 13: the metric is usable after ``pip install``, and its Space installs from its own files.

Both tests build a fresh virtual environment and install from the package index (about 1-2 minutes with a warm
pip cache): that is what a user's machine and a Hugging Face Space do, so nothing of this checkout's environment
may leak in. They need the registry (PyPI through pip), hence the ``network`` marker: `make test` runs them, a
machine without it leaves them out with ``-m "not network"``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from blip_pose.cli import main

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[1]
COMPUTE = (
    "scores = {call}(predictions=['upper_neck:12,30', 'head:40,8'], references=['upper_neck:11,30', "
    "'upper_neck:52,20'], caption_type='simple_text')\n"
    "print(json.dumps({{k: scores[k] for k in ('accuracy@25', 'mae', 'parse_rate')}}))"
)
# COCO keypoint AP of two noisy people: pycocotools must be among the Space's requirements.
COCO_COMPUTE = (
    "import numpy as np\n"
    "rng = np.random.default_rng(0)\n"
    "truth = rng.uniform(20, 80, (2, 17, 2))\n"
    "pred = truth + rng.normal(0, 3, truth.shape)\n"
    "ann = [{{'image_id': i + 1, 'bbox': [10, 10, 80, 80], 'area': 6400.0, 'keypoints': "
    "np.concatenate([t, np.full((17, 1), 2)], 1).ravel().tolist()}} for i, t in enumerate(truth)]\n"
    "scores = {call}(predictions=list(pred), references=list(truth), keypoints='coco17', "
    "image_sizes=[(100, 100)] * 2, coco_annotations=ann)\n"
    "print(json.dumps({{k: scores[k] for k in ('coco_AP', 'coco_AR')}}))"
)


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    """A new venv (no system site-packages) with pip, and an environment that keeps the Hub offline."""
    root = tmp_path_factory.mktemp("fresh")
    venv.create(root / "venv", with_pip=True, system_site_packages=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(root / "modules"), "GRADIO_ANALYTICS_ENABLED": "False"}
    return root / "venv" / "bin" / "python", env


def _run(python, args, env, cwd):
    done = subprocess.run([str(python), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_metric_space_runs_from_its_own_files_and_pypi(tmp_path, fresh_env, capsys):
    python, env = fresh_env
    space = tmp_path / "space"
    assert main(["push-metric", "--repo-id", "someone/pose_threshold_accuracy", "--dry-run", "--out", str(space)]) == 0
    assert "https://huggingface.co/spaces/someone/pose_threshold_accuracy" in capsys.readouterr().out
    _run(python, ["-m", "pip", "install", "-q", "-r", "requirements.txt"], env, space)
    script = "import json\nimport app\n" + COMPUTE.format(call="app.module.compute")
    script += "\nprint(app.compute('head:1,1', 'head:1,2', 'simple_text', 'mean')['mae'])"
    out = _run(python, ["-c", script], env, space).splitlines()
    assert json.loads(out[-2]) == {"accuracy@25": 0.5, "mae": 1.0, "parse_rate": 0.5}
    assert out[-1] == "1.0"  # the page's own compute callback
    coco = "import json\nimport app\n" + COCO_COMPUTE.format(call="app.module.compute")
    here = "import json, blip_pose, evaluate\nmodule = evaluate.load(blip_pose.metric_path())\n"
    expected = json.loads(
        _run(
            sys.executable, ["-c", here + COCO_COMPUTE.format(call="module.compute")], {**os.environ}, tmp_path
        ).splitlines()[-1]
    )
    assert 0 < expected["coco_AP"] < 1  # something to get wrong
    assert json.loads(_run(python, ["-c", coco], env, space).splitlines()[-1]) == expected


def test_metric_loads_from_the_installed_wheel_outside_a_checkout(tmp_path, fresh_env):
    python, env = fresh_env
    source = tmp_path / "source"  # setuptools writes build/ and *.egg-info into the tree it builds: not the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "__pycache__", "outputs", "build", "*.egg-info"))
    _run(sys.executable, ["-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path)], env, tmp_path)
    (wheel,) = tmp_path.glob("blip_pose-*.whl")
    # The metric's own needs only (evaluate, numpy): torch and the rest of blip-pose's stack are not needed here.
    _run(python, ["-m", "pip", "install", "-q", "--no-deps", str(wheel)], env, tmp_path)
    _run(python, ["-m", "pip", "install", "-q", "evaluate", "numpy", "pillow"], env, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    path = _run(python, ["-m", "blip_pose", "metric-path"], env, outside).strip()
    assert path.startswith(str(python.parents[1])) and path.endswith("blip_pose/metric/pose_threshold_accuracy")
    script = "import json, blip_pose, evaluate\nmetric = evaluate.load(blip_pose.metric_path())\n"
    out = _run(python, ["-c", script + COMPUTE.format(call="metric.compute")], env, outside)
    assert json.loads(out.splitlines()[-1]) == {"accuracy@25": 0.5, "mae": 1.0, "parse_rate": 0.5}
