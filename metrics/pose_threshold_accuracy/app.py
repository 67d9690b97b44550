"""The Space's app: evaluate's standard metric widget around the script next to this file."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

# Loaded from the file beside this one, so the Space works under any user name and offline from a clone.
module = evaluate.load(str(Path(__file__).with_name("pose_threshold_accuracy.py")))
launch_gradio_widget(module)
