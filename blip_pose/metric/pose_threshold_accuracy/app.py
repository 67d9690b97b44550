"""The Space's app: the metric script beside this file behind a small Gradio Blocks page.

evaluate's ``launch_gradio_widget`` builds its page with the gradio 3 API (``gr.inputs``), which gradio 4 removed;
this page does the same job (captions in, scores out, the metric card below) with the Gradio the README pins.
"""

import math
import os
import re
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import evaluate
import gradio as gr

HERE = Path(__file__).resolve().parent
CAPTION_TYPES = ["text", "simple_text", "normalized_text", "normalized_simple_text"]
# Loaded from the file beside this one, so the Space works under any user name and offline from a clone.
module = evaluate.load(str(HERE / "pose_threshold_accuracy.py"))


def compute(predictions: str, references: str, caption_type: str, criterion: str) -> dict:
    """One caption per line in each box -> the metric's scores (an error message instead of a stack trace)."""
    preds = [line.strip() for line in predictions.splitlines() if line.strip()]
    refs = [line.strip() for line in references.splitlines() if line.strip()]
    if not preds or len(preds) != len(refs):
        raise gr.Error(
            f"give one caption per line, as many predictions as references (got {len(preds)} and {len(refs)})"
        )
    try:
        scores = module.compute(predictions=preds, references=refs, caption_type=caption_type, criterion=criterion)
    except (ValueError, TypeError) as err:
        raise gr.Error(str(err)) from None
    # NaN (nothing to average) is not JSON: shown as null.
    return {key: None if isinstance(v, float) and math.isnan(v) else v for key, v in scores.items()}


def card() -> str:
    """The metric card without its Space YAML header."""
    return re.sub(r"\A---\n.*?\n---\n", "", (HERE / "README.md").read_text(encoding="utf-8"), flags=re.S)


with gr.Blocks(title=f"Metric: {module.name}") as demo:
    gr.Markdown(f"# Metric: {module.name}\n{module.info.description}")
    with gr.Row():
        predictions = gr.Textbox(
            label="predictions (one caption per line)", lines=4, value="upper_neck:12,30\nhead:40,8"
        )
        references = gr.Textbox(
            label="references (one caption per line)", lines=4, value="upper_neck:11,30\nupper_neck:52,20"
        )
    with gr.Row():
        caption_type = gr.Dropdown(CAPTION_TYPES, value="simple_text", label="caption_type")
        criterion = gr.Radio(["mean", "all"], value="mean", label="criterion")
    scores = gr.JSON(label="scores")
    gr.Button("Compute", variant="primary").click(compute, [predictions, references, caption_type, criterion], scores)
    gr.Markdown(card())

if __name__ == "__main__":
    demo.launch()
