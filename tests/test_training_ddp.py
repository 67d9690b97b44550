"""Two-process gloo DDP on CPU: training is sharded, and evaluation scores every example exactly once.

accelerate 1.x runs ``launch --cpu --num_processes 2`` as ONE process (its CPU launcher only spreads work with
mpirun); ``--multi_gpu`` on a machine without CUDA starts torchrun and DDP picks the gloo backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from datasets import load_from_disk
from ports import free_port
from training_fixtures import sample_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_two_processes_score_each_validation_example_once_and_overwrite_a_run(tmp_path):
    data = sample_dataset(tmp_path / "sample")
    names = list(load_from_disk(str(data))["validation"]["image_name"])[:5]  # odd: the last batch gets padded
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        str(free_port()),
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(ROOT / "training" / "run.py"),
        str(ROOT / "training" / "configs" / "tiny_test.yaml"),
        "--dataset_name",
        str(data),
        "--output_dir",
        str(out),
        "--max_steps",
        "2",
        "--max_eval_samples",
        "5",
        "--per_device_train_batch_size",
        "2",
        "--per_device_eval_batch_size",
        "2",
        "--generation_max_length",
        "24",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # The second launch overwrites the first run: only the main process deletes it (two ranks deleting the same
    # files crashed all but one).
    for extra in ([], ["--overwrite_output_dir", "true"]):
        result = subprocess.run(command + extra, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_num_samples"] == 5
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # 2 processes x batch 2 = 4 of the 27 images a step, 7 steps an epoch: both processes took part.
    assert state["epoch"] == 2 / 7
    lines = [json.loads(line) for line in (out / "predictions" / "final.jsonl").read_text().splitlines()]
    assert [line["image_name"] for line in lines] == names
