"""Models that do not fit one GPU (FSDP2, DeepSpeed ZeRO-3 configs) and several machines, on two CPU processes.

* The configs in ``training/accelerate/`` are read by accelerate's own loader and passed through our launcher.
* FSDP2 trains, evaluates and saves one full ``model.safetensors``: accelerate 1.16 runs FSDP only on accelerators
  (on CPU the same launch is plain DDP), so ``fsdp_on_cpu.py`` switches its state to FSDP as a GPU launch would;
  torch 2.13's ``fully_shard`` runs over gloo.
* Two ``accelerate launch`` commands on localhost act as two machines sharing one disk: both finish, and the run
  folder is written once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_from_disk
from ports import free_port
from safetensors.torch import load_file
from training_fixtures import sample_dataset

from blip_pose.training import launch

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training" / "accelerate"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _run_args(data: Path, out: Path) -> list[str]:
    """A tiny run: 2 steps of 2 images a process, 5 evaluation images (odd: the last batch is padded)."""
    return [
        str(ROOT / "training" / "run.py"),
        str(ROOT / "training" / "configs" / "tiny_test.yaml"),
        *("--dataset_name", str(data), "--output_dir", str(out), "--max_steps", "2", "--max_eval_samples", "5"),
        *("--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2", "--generation_max_length", "24"),
    ]


def _scored_once(data: Path, out: Path) -> None:
    """The final evaluation scored each of the 5 images once, and its files were written once."""
    names = list(load_from_disk(str(data))["validation"]["image_name"])[:5]
    lines = [json.loads(line) for line in (out / "predictions" / "final.jsonl").read_text().splitlines()]
    assert [line["image_name"] for line in lines] == names
    assert json.loads((out / "all_results.json").read_text())["eval_num_samples"] == 5
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and state["epoch"] == 2 / 7  # 2 processes x 2 of the 27 images a step


@pytest.mark.parametrize(
    ("config", "launcher", "expected"),
    [
        (
            "fsdp.yaml",
            "multi_gpu_launcher",
            {
                "ACCELERATE_USE_FSDP": "true",
                "FSDP_VERSION": "2",
                "FSDP_STATE_DICT_TYPE": "FULL_STATE_DICT",
                "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
                "ACCELERATE_MIXED_PRECISION": "bf16",
            },
        ),
        (
            "zero3.yaml",
            "deepspeed_launcher",
            {
                "ACCELERATE_USE_DEEPSPEED": "true",
                "ACCELERATE_DEEPSPEED_ZERO3_INIT": "true",
                "ACCELERATE_DEEPSPEED_CONFIG_FILE": "training/accelerate/zero3.json",
            },
        ),
    ],
)
def test_our_launcher_hands_each_config_to_accelerate(config, launcher, expected, monkeypatch):
    """accelerate's own config loader reads the file, and ``python -m blip_pose.training.launch --config_file``
    reaches the launcher a GPU machine would use, with the environment that sets the run up."""
    import accelerate.commands.launch as accelerate_launch
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    loaded = load_config_from_file(str(CONFIGS / config))
    assert loaded.distributed_type.value == ("FSDP" if config == "fsdp.yaml" else "DEEPSPEED")
    prepare = prepare_multi_gpu_env if launcher == "multi_gpu_launcher" else lambda a: prepare_deepspeed_cmd_env(a)[1]
    seen: list[dict[str, str]] = []
    monkeypatch.setattr(accelerate_launch, launcher, lambda args: seen.append(prepare(args)))
    monkeypatch.chdir(ROOT)
    argv = ["--config_file", str(CONFIGS / config), "training/run.py", "training/configs/tiny_test.yaml"]
    assert launch.main(argv) == 0
    assert [{key: env.get(key) for key in expected} for env in seen] == [expected]


def test_the_zero3_settings_gather_one_full_model_at_the_end():
    settings = json.loads((CONFIGS / "zero3.json").read_text())
    assert settings["zero_optimization"]["stage"] == 3
    assert settings["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # model.safetensors


def test_fsdp2_trains_evaluates_and_saves_one_full_model_on_two_cpu_processes(tmp_path):
    """tiny-git under FSDP2: its evaluation runs the vision pass as a registered forward (sharded parameters were
    met otherwise) and the saved model.safetensors holds every trained weight, loadable in one process."""
    from transformers import GitForCausalLM

    data, out = sample_dataset(tmp_path / "sample"), tmp_path / "fsdp"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "fsdp.yaml")]
    command += ["--num_processes", "2", "--main_process_port", str(free_port()), "--mixed_precision", "no"]
    command += [str(ROOT / "tests" / "fsdp_on_cpu.py")]
    command += [*_run_args(data, out), "--model_name_or_path", "tiny-git"]
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(line for line in result.stdout.splitlines() if line.startswith("fsdp_on_cpu:")) == [
        "fsdp_on_cpu: FSDP2 on process 0",
        "fsdp_on_cpu: FSDP2 on process 1",
    ]
    _scored_once(data, out)
    saved, initial = (
        load_file(str(out / "model.safetensors")),
        load_file(str(out / "preset-tiny-git" / "model.safetensors")),
    )
    assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in initial.items()}  # whole, not a shard
    assert any(not saved[k].equal(initial[k]) for k in initial)  # trained
    _, info = GitForCausalLM.from_pretrained(str(out), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_two_machines_on_localhost_share_one_run_folder(tmp_path):
    """``--num_machines 2 --machine_rank 0|1``, one process each: both exit 0; the preset and the dataset are made
    once for the shared disk (both machines' main processes writing them raced), and only the run's main process
    writes the run's records and summary."""
    data, out = sample_dataset(tmp_path / "sample"), tmp_path / "two-machines"
    machine = [sys.executable, "-m", "blip_pose.training.launch", "--multi_gpu", "--num_machines", "2"]
    machine += ["--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port())]
    machine += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    ranks = [
        subprocess.Popen(
            [*machine, "--machine_rank", str(rank), *_run_args(data, out)],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (1, 0)  # the second machine may start first
    ]
    outputs = {rank: process.communicate(timeout=600)[0] for rank, process in zip((1, 0), ranks, strict=True)}
    codes = {rank: process.returncode for rank, process in zip((1, 0), ranks, strict=True)}
    assert codes == {0: 0, 1: 0}, outputs[0][-2000:] + outputs[1][-2000:]
    _scored_once(data, out)
    assert not list(out.glob("*.tmp"))
    assert "Run finished" in outputs[0] and "Run finished" not in outputs[1]


PALIGEMMA_STEP = """
import torch
from accelerate import Accelerator
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from blip_pose.training.trainer import fsdp_forward

torch.manual_seed(0)
text = dict(model_type="gemma", hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=16, vocab_size=300)
vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
              patch_size=8, projection_dim=32)
config = PaliGemmaConfig(text_config=text, vision_config=vision, image_token_index=299, projection_dim=32)
accelerator = Accelerator(cpu=True)
model = PaliGemmaForConditionalGeneration(config)
model, optimizer = accelerator.prepare(model, torch.optim.AdamW(model.parameters(), lr=1e-3))
ids = torch.cat([torch.full((2, 16), 299), torch.randint(0, 290, (2, 6))], 1)
batch = dict(input_ids=ids, pixel_values=torch.randn(2, 3, 32, 32), token_type_ids=torch.zeros_like(ids))
loss = model(**batch, labels=ids.masked_fill(ids == 299, -100)).loss
accelerator.backward(loss)
optimizer.step()
with torch.no_grad():
    generate = fsdp_forward(model, lambda m, **kwargs: m.generate(**kwargs))
    out = generate(**batch, max_new_tokens=4, do_sample=False, synced_gpus=True)
state = accelerator.get_state_dict(model)
if accelerator.is_main_process:
    print("paligemma", type(model).__name__, tuple(out.shape), sum(v.numel() for v in state.values()))
"""


def test_a_tiny_paligemma_shards_trains_and_generates_under_fsdp2(tmp_path):
    """The PaliGemma path through fsdp.yaml: its blocks wrapped from ``_no_split_modules``, the tied embedding and
    LM head in one group (accelerate sees that tie), a training step, generation as a registered FSDP forward, and
    the full state dict on the main process (61,600 parameters + the tied LM head's 9,600 listed again)."""
    script = tmp_path / "paligemma_step.py"
    script.write_text(PALIGEMMA_STEP)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "fsdp.yaml")]
    command += ["--num_processes", "2", "--main_process_port", str(free_port()), "--mixed_precision", "no"]
    command += [str(ROOT / "tests" / "fsdp_on_cpu.py"), str(script)]
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("paligemma")]
    assert lines == ["paligemma FSDPPaliGemmaForConditionalGeneration (2, 26) 71200"]
