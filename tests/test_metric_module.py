"""The evaluate module (blip_pose/metric/pose_threshold_accuracy, linked from metrics/ in a checkout): offline
loading, its card, its app, its errors."""

import doctest
import importlib
import json
import os
import re
import runpy
import subprocess
import sys
import urllib.request
from pathlib import Path

import evaluate
import numpy as np
import pytest
import yaml

from blip_pose.pose_format import render_coords

REPO = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO / "metrics" / "pose_threshold_accuracy"
CARD = (METRIC_DIR / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR), keep_in_memory=True)


def _run_examples(text: str, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(text, {}, name, str(METRIC_DIR), 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    return runner.summarize(verbose=False)


def _card_python_blocks() -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", CARD, flags=re.DOTALL))


def test_loads_offline_from_any_cwd_by_absolute_path(tmp_path):
    script = (
        "import evaluate, json, sys\n"
        "m = evaluate.load(sys.argv[1])\n"
        "r = m.compute(predictions=['rankl:12,30 head:5,5'], references=['rankl:11,30 head:5,9'], thresholds=[2])\n"
        "print(json.dumps(r))\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(METRIC_DIR)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Errors 1 and 4 px: mean 2.5 > 2.
    assert result["accuracy@2"] == 0.0 and result["mae"] == 2.5 and result["num_samples"] == 1.0
    # evaluate copied the script into the (fresh) modules cache: the load really went through evaluate.
    assert list((tmp_path / "modules").rglob("pose_threshold_accuracy.py"))


def test_relative_repo_path_from_the_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)
    loaded = evaluate.load("metrics/pose_threshold_accuracy", keep_in_memory=True)
    assert loaded.name == "pose_threshold_accuracy"
    assert loaded.compute(predictions=["head:1,1"], references=["head:1,2"])["mae"] == 1.0


def test_card_examples_run(monkeypatch):
    monkeypatch.chdir(REPO)
    result = _run_examples(_card_python_blocks(), "README.md")
    assert result.attempted >= 20 and result.failed == 0


def test_module_docstring_examples_run_and_are_the_cards(metric, monkeypatch):
    monkeypatch.chdir(REPO)
    module = importlib.import_module(type(metric).__module__)
    result = _run_examples(module._KWARGS_DESCRIPTION, "_KWARGS_DESCRIPTION")
    assert result.attempted >= 10 and result.failed == 0
    parser = doctest.DocTestParser()
    card = [(e.source, e.want) for e in parser.get_examples(_card_python_blocks())]
    docstring = [(e.source, e.want) for e in parser.get_examples(module._KWARGS_DESCRIPTION)]
    assert all(example in card for example in docstring)
    # Same story: the description's opening sentence is the card's.
    assert " ".join(module._DESCRIPTION.split()[:20]) in " ".join(CARD.split())


def test_card_front_matter_and_sections():
    front = yaml.safe_load(CARD.split("---\n")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py"
    assert {"evaluate", "metric"} <= set(front["tags"])
    assert {"title", "emoji", "colorFrom", "colorTo", "sdk_version", "pinned", "description"} <= set(front)
    for section in (
        "## Metric Description",
        "### Inputs",
        "### Output Values",
        "### Examples",
        "## Limitations and Bias",
        "## Citation",
    ):
        assert section in CARD


def test_every_output_key_is_documented(metric):
    reference = np.full((16, 2), 50.0)
    out = metric.compute(predictions=[reference + 1], references=[reference], head_sizes=[10.0])
    documented = set(re.findall(r"^\| `([^`]+)`", CARD, flags=re.MULTILINE))
    documented |= {
        k.strip("` ") for row in re.findall(r"^\| (`[^|]+`) \|", CARD, flags=re.MULTILINE) for k in row.split(",")
    }
    for key in out:
        generic = re.sub(r"/\w+$", "/<joint>", key)
        generic = re.sub(r"^(accuracy|pck)@[\d.]+", r"\1@T", generic)
        assert generic in documented, key


def test_scores_captions_against_arrays_and_visibility_captions(metric):
    reference = np.arange(32, dtype=float).reshape(16, 2)
    prediction = render_coords(reference + [3, 4])
    out = metric.compute(predictions=[prediction], references=[reference], thresholds=[5, 4.9])
    assert (out["accuracy@5"], out["accuracy@4.9"], out["mae"]) == (1.0, 0.0, 5.0)
    out = metric.compute(predictions=[prediction], references=[reference], reference_visibility=["rankl:1 rknee:0"])
    assert out["pck@5/rankl"] == 1.0 and np.isnan(out["pck@5/rknee"]) and np.isnan(out["pck@5/head"])


def test_app_serves_the_metric_page_under_the_pinned_gradio():
    import gradio
    from ports import free_port

    app = runpy.run_path(str(METRIC_DIR / "app.py"))  # not __main__: built, not launched
    assert type(app["module"]).__name__ == "PoseThresholdAccuracy"
    scores = app["compute"]("upper_neck:12,30\nhead:40,8", "upper_neck:11,30\nupper_neck:52,20", "simple_text", "mean")
    assert (scores["accuracy@25"], scores["mae"], scores["pck@5/head"]) == (0.5, 1.0, None)  # NaN shown as null
    with pytest.raises(gradio.Error, match="as many predictions as references"):
        app["compute"]("head:1,1", "", "simple_text", "mean")
    port = free_port()
    app["demo"].launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        config = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30).read())
    finally:
        app["demo"].close()
    assert "Metric: pose_threshold_accuracy" in page
    labels = {c["props"].get("label") for c in config["components"]}
    assert {"predictions (one caption per line)", "references (one caption per line)", "scores"} <= labels
    requirements = (METRIC_DIR / "requirements.txt").read_text()
    names = set(re.findall(r"^([\w-]+)", requirements, flags=re.MULTILINE))
    assert {"evaluate", "gradio"} <= names and "blip-pose" not in names  # PyPI only: blip_pose/ is copied in
    assert f"gradio=={gradio.__version__}" in requirements
    assert f"sdk_version: {gradio.__version__}" in (METRIC_DIR / "README.md").read_text()


GOOD = np.full((16, 2), 10.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"predictions": ["head:1,1", "head:2,2"], "references": ["head:1,1"]}, "Mismatch in the number"),
        ({"predictions": [], "references": []}, "predictions is empty"),
        ({"predictions": [GOOD], "references": ["head:1,1"]}, "expected format"),
        ({"predictions": [np.zeros((16, 3))], "references": [GOOD]}, r"\(J, 2\)"),
        ({"predictions": [np.zeros((15, 2))], "references": [np.zeros((15, 2))]}, "16 joints"),
        ({"predictions": [GOOD], "references": [np.where(np.eye(16, 2) > 0, np.inf, GOOD)]}, r"references\[0\]"),
        ({"predictions": [np.where(np.eye(16, 2) > 0, np.nan, GOOD)], "references": [GOOD]}, r"predictions\[0\]"),
        ({"predictions": ["head:1,1"], "references": ["head:0.5,0.5"]}, "normalized_text"),
        ({"predictions": ["head:1,1"], "references": ["garbage"]}, r"references\[0\] has no joint"),
        ({"predictions": ["head:1,1"], "references": ["head:1,1"], "thresholds": [5, 0]}, "positive"),
        ({"predictions": ["head:1,1"], "references": ["head:1,1"], "head_sizes": [-1.0]}, "head_sizes"),
        ({"predictions": ["head:1,1"], "references": ["head:1,1"], "head_boxes": [[0, 0, 1, 1]] * 2}, "2 entries"),
        (
            {"predictions": ["head:.5,.5"], "references": ["head:0.5,0.5"], "caption_type": "normalized_text"},
            "image_sizes",
        ),
        ({"predictions": ["head:1,1"], "references": ["head:1,1"], "criterion": "any"}, "criterion"),
    ],
)
def test_bad_input_is_a_value_error(metric, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(**kwargs)
