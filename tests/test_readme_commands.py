"""The README is executable: every command of its ```bash blocks and every ```python block runs, verbatim and in
document order, in a copy of the working tree (so `make demo` precedes the commands that read `outputs/demo`).

A command that cannot run here (network, MPII, a GPU, too long) is listed once in ``NOT_RUN`` with the reason and,
where one exists, the offline stand-in that runs in its place. A listed command that is no longer in the README
fails the check, so the list cannot go stale; a README command that is not listed and fails, fails it too.
Placeholders that are files (`photos/*.jpg`, `person.jpg`, `~/data/mpii`) are provided in the copy instead.
Cost: `pytest --durations=0` shows each command's seconds; the chain took ~20 min of a fresh-clone CI run beside
`make test`'s other worker, `make demo` 8-9 min of it (~4.5 min on 2 free cores).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STEP_TIMEOUT_S = 900  # a hung command costs CI at most this (make demo: 9 min beside another test worker)


@dataclass(frozen=True)
class NotRun:
    reason: str
    stand_in: str | None = None  # runs in the command's place; None: nothing offline exercises more than the tests


# The one list of README commands that do not run verbatim here, keyed by the command as written (comment dropped).
NOT_RUN = {
    "make test": NotRun("this check runs inside it (.ci/run calls make test)"),
    "bash benchmarks/device_suite.sh": NotRun(
        "needs a CUDA GPU; tests/test_device_suite.py runs it with --smoke (the tiny preset on CPU, same steps) and"
        " parses every command of its --dry-run"
    ),
    "make pretrain-tiny": NotRun("long (~12 min); its path (training/run.py on synthetic people) runs in make demo"),
    "python -m mpii_pose_dataset build --download --output mpii_pose_caption": NotRun(
        "downloads the official archives (~13 GB); tests/test_reader.py builds from local archives of that shape"
    ),
    "python -m mpii_pose_dataset build-standard --download --output mpii_standard": NotRun(
        "downloads mmpose's annotation archive and the official images (~13 GB); tests/test_standard_build.py builds"
        " from local archives of that shape"
    ),
    "python -m mpii_pose_dataset push mpii_pose_caption --repo-id <user>/mpii_pose_caption": NotRun(
        "uploads to the Hub (network, token); tests/test_push_offline.py runs it against a faked Hub client"
    ),
    "accelerate launch training/run.py training/configs/demo.yaml": NotRun(
        "the same run as `make demo` (its recipe), which runs above; a short run checks the config still parses",
        "accelerate launch training/run.py training/configs/demo.yaml --output_dir outputs/demo-short"
        " --max_steps 2 --synthetic_size 64 --max_eval_samples 8 --eval_on_start false",
    ),
    "accelerate launch training/run.py training/configs/paper.yaml"
    " --dataset_name mpii_pose_caption --bf16 true": NotRun(
        "needs a GPU (bf16) and the Salesforce BLIP weights; the stand-in trains the tiny preset on the built folder",
        "accelerate launch training/run.py training/configs/paper.yaml --dataset_name mpii_pose_caption"
        " --model_name_or_path tiny --use_cpu true --max_steps 2 --max_eval_samples 4 --output_dir outputs/paper-short",
    ),
    "accelerate launch --multi_gpu training/run.py training/configs/paper.yaml --learning_rate 5e-5": NotRun(
        "needs several GPUs and the Salesforce BLIP weights"
    ),
    "accelerate launch --config_file training/accelerate/fsdp.yaml --num_processes 8 training/run.py"
    " training/configs/paper.yaml --model_name_or_path microsoft/git-large": NotRun(
        "needs GPUs and a Hub model; tests/test_distributed.py trains tiny-git under FSDP2 on 2 CPU processes"
    ),
    "accelerate launch --config_file training/accelerate/zero3.yaml --num_processes 8 training/run.py"
    " training/configs/paper.yaml --model_name_or_path microsoft/git-large": NotRun(
        "needs GPUs, deepspeed and a Hub model; tests/test_distributed.py passes the config through our launcher"
    ),
    "accelerate launch --multi_gpu --num_machines 2 --num_processes 16 --machine_rank 0 --main_process_ip 10.0.0.1"
    " --main_process_port 29500 training/run.py training/configs/paper.yaml": NotRun(
        "needs two machines; tests/test_distributed.py runs machine ranks 0 and 1 on localhost (CPU, gloo)"
    ),
    "accelerate launch --multi_gpu --num_machines 2 --num_processes 16 --machine_rank 1 --main_process_ip 10.0.0.1"
    " --main_process_port 29500 training/run.py training/configs/paper.yaml": NotRun(
        "needs two machines; tests/test_distributed.py runs machine ranks 0 and 1 on localhost (CPU, gloo)"
    ),
    "python -m blip_pose push outputs/demo --repo-id <user>/blip-mpii-pose --dry-run": NotRun(
        "`<user>` is a placeholder (bash reads it as a redirection)",
        "python -m blip_pose push outputs/demo --repo-id someone/blip-mpii-pose --dry-run",
    ),
    "python -m blip_pose push outputs/demo --repo-id <user>/blip-mpii-pose": NotRun(
        "uploads to the Hub (network, token); its --dry-run runs above"
    ),
    "python -m blip_pose push-metric --repo-id <user>/pose_threshold_accuracy": NotRun(
        "uploads a Space (network, token); the stand-in writes the Space folder",
        "python -m blip_pose push-metric --repo-id someone/pose_threshold_accuracy --dry-run --out metric-space",
    ),
    "python -m blip_pose demo <user>/blip-mpii-pose --port 7861 --share": NotRun(
        "a Hub model and a gradio.live link (network); the same server runs above on outputs/demo"
    ),
    "python -m blip_pose push-demo <user>/blip-mpii-pose --repo-id <user>/blip-pose-demo": NotRun(
        "uploads a Space (network, token); the stand-in writes the Space folder",
        "python -m blip_pose push-demo someone/blip-mpii-pose --repo-id someone/blip-pose-demo"
        " --dry-run --out demo-space",
    ),
    "sudo apt-get install -y chromium chromium-driver": NotRun("installs system packages; `make test` does it"),
    "python -m blip_pose analyze occlusion outputs/demo": NotRun(
        "200 frames of outputs/demo by default (minutes on 2 cores) is too long for CI; the stand-in covers 8",
        "python -m blip_pose analyze occlusion outputs/demo --images 8",
    ),
    "python benchmarks/bench_train.py": NotRun(
        "BLIP-base steps and generation on CPU (minutes); the stand-in times one step and batch 1",
        "python benchmarks/bench_train.py --steps 1 --warmup 0 --gen-batch-sizes 1 --batch-size 1",
    ),
    "python benchmarks/heatmap_baseline.py": NotRun(
        "two training runs with evaluation on 64 synthetic frames (minutes on 2 shared cores); the stand-in trains"
        " one step each on the smallest synthetic build and prints the same table",
        "python benchmarks/heatmap_baseline.py --synthetic_size 50 --max_steps 1 --max_eval_samples 2"
        " --out outputs/baseline-short",
    ),
    "python benchmarks/bench_vs_method.py": NotRun(
        "three repeats on tiny and BLIP-base (long); the stand-in runs one repeat on tiny",
        "python benchmarks/bench_vs_method.py --archs tiny --reps 1",
    ),
    "python benchmarks/bench_scaling.py --sizes 1000 10000 30000": NotRun(
        "long (~7 min on 2 free cores, 40,000 frames drawn); the same commands at one small size",
        "python benchmarks/bench_scaling.py --sizes 60",
    ),
}

# Commands that serve a page until stopped: started, run until the address answers, then stopped.
SERVES = {".venv/bin/python -m blip_pose demo": "http://127.0.0.1:7860/"}


@dataclass(frozen=True)
class Step:
    line: int  # where it starts in README.md
    kind: str  # "bash" or "python"
    text: str  # the command (its comment dropped) or the python block


def _command(line: str) -> str:
    """A README command without its trailing `# comment`."""
    return re.sub(r"\s+#\s.*$", "", line).strip()


def readme_steps(text: str) -> list[Step]:
    """Every bash command and python block of the README in document order; a repeated command only once."""
    steps: list[Step] = []
    seen: set[str] = set()
    for block in re.finditer(r"^```(bash|python)\n(.*?)^```", text, flags=re.M | re.S):
        first = text.count("\n", 0, block.start(2)) + 1
        kind, body = block.group(1), block.group(2)
        if kind == "python":
            code = "\n".join(re.sub(r"^(>>> |\.\.\. )", "", line) for line in body.splitlines())
            steps.append(Step(first, kind, code))
            continue
        for offset, line in enumerate(body.splitlines()):
            command = _command(line)
            if command and not command.startswith("#") and command not in seen:
                seen.add(command)
                steps.append(Step(first + offset, kind, command))
    return steps


STEPS = readme_steps(README.read_text())


def test_the_not_run_list_names_only_readme_commands():
    """No stale entry: each listed command (and each served one) is still in the README, verbatim."""
    commands = {step.text for step in STEPS}
    stale = sorted(set(NOT_RUN) - commands) + sorted(set(SERVES) - commands)
    assert stale == [], f"listed in tests/test_readme_commands.py but no longer in README.md: {stale}"


def test_the_readme_has_commands_to_run():
    runnable = [s for s in STEPS if s.text not in NOT_RUN]
    assert len(runnable) >= 10 and any(s.kind == "python" for s in runnable)
    assert next(s.text for s in STEPS if s.kind == "bash") == "make demo"  # what later commands read comes first


def _copy_working_tree(target: Path) -> None:
    """Tracked and untracked-but-not-ignored files of the checkout (what a commit of it would hold)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, dest = ROOT / name, target / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            dest.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, dest)


def _link_environment(target: Path) -> None:
    """``.venv`` of the copy: the running environment's files linked, and its own ``.installed`` newer than
    pyproject.toml, so `make` uses the environment as it is and never installs into it."""
    venv = target / ".venv"
    venv.mkdir()
    for entry in Path(sys.prefix).iterdir():
        if entry.name != ".installed":
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed").touch()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A copy of the working tree with the environment, a HOME holding an MPII-format folder (the bundled sample,
    which has the official .mat layout) at ~/data/mpii, and photos for the predictor's placeholders."""
    root = tmp_path_factory.mktemp("readme")
    tree, home = root / "checkout", root / "home"
    _copy_working_tree(tree)
    _link_environment(tree)
    sample = tree / "mpii_pose_dataset" / "sample"
    shutil.copytree(sample, home / "data" / "mpii")
    photos = sorted((sample / "images").glob("*.jpg"))[:2]
    (tree / "photos").mkdir()
    for photo in photos:
        shutil.copy2(photo, tree / "photos" / photo.name)
    shutil.copy2(photos[0], tree / "person.jpg")
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{tree / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(tree),  # the copy's code, also in the scripts accelerate starts
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "Agg",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        # make's training jobs take every core (TRAIN_THREADS = nproc) when they run alone; beside the other test
        # workers two OpenMP threads per process oversubscribe the cores, and make demo passed its 900 s limit.
        env["TRAIN_THREADS"] = "1"
    env.pop("VIRTUAL_ENV", None)
    return tree, env


def _tail(text: str, lines: int = 15) -> str:
    """The first line that names an error (a launcher's summary buries the script's) and the last lines."""
    all_lines = text.strip().splitlines()
    first = next((line for line in all_lines if re.search(r"error", line, re.IGNORECASE)), None)
    return "\n".join([*([first, "..."] if first and first not in all_lines[-lines:] else []), *all_lines[-lines:]])


def _serve(command: str, url: str, cwd: Path, env: dict[str, str]) -> None:
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline, status = time.monotonic() + 300, None
    try:
        while time.monotonic() < deadline and process.poll() is None and status is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    status = response.status
            except OSError:
                time.sleep(1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert status == 200, f"{command!r} never served {url}:\n{_tail(output)}"


@pytest.mark.readme
@pytest.mark.parametrize("step", STEPS, ids=[f"README:{s.line}" for s in STEPS])
def test_readme_command_runs(step, checkout):
    tree, env = checkout
    listed = NOT_RUN.get(step.text)
    command = listed.stand_in if listed else step.text
    if command is None:
        pytest.skip(f"not run here: {listed.reason}")  # type: ignore[union-attr]
    if command in SERVES:
        _serve(command, SERVES[command], tree, env)
        return
    argv = [sys.executable, "-c", command] if step.kind == "python" else ["bash", "-c", command]
    process = subprocess.Popen(
        argv, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output = process.communicate(timeout=STEP_TIMEOUT_S)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the command and everything it started (make, accelerate, workers)
        output = process.communicate()[0]
        pytest.fail(f"README.md:{step.line}: {command!r} still running after {STEP_TIMEOUT_S} s:\n{_tail(output)}")
    assert process.returncode == 0, f"README.md:{step.line}: {command!r} exited {process.returncode}:\n{_tail(output)}"
