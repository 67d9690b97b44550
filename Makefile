# The README commands: `make demo` (offline: fine-tunes the shipped pretrained:tiny-pose on procedural people, scored
# on held-out ones), `make test`, and `make pretrain-tiny` (re-makes the shipped model, ~12 min on 2 free cores).
# Each does all set-up on a fresh machine: a virtual environment in .venv, torch, the project.
# torch is installed only when the environment lacks it; pick your build with e.g.
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# One torch thread per process, as `accelerate launch` sets: the tests start training subprocesses beside the
# pytest process, and two-thread processes oversubscribing 2 cores made the warm-up test 10x slower (164 s vs 17 s).
export OMP_NUM_THREADS ?= 1
# The two training jobs run alone, so they take every core: 2 threads train the tiny model 1.5x faster than 1
# (nproc without OMP_NUM_THREADS, which it would report instead, e.g. the 1 exported above under make >= 4.4).
TRAIN_THREADS ?= $(shell env -u OMP_NUM_THREADS nproc)
# make test runs two test files side by side (pytest-xdist, one file per worker at a time; the README's chain
# first, tests/conftest.py): on 2 cores the tests took 20-24 min from a fresh clone, 34-39 min in one process.
# TEST_WORKERS=0 runs them in one process, auto one worker per core.
TEST_WORKERS ?= 2
LAUNCH := $(VENV)/bin/accelerate launch --num_processes 1 --num_cpu_threads_per_process $(TRAIN_THREADS)

.PHONY: demo pretrain-tiny test lint install browser clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(LAUNCH) training/run.py training/configs/demo.yaml

# Pretrain the tiny preset from scratch on procedural people, then ship it in the package as pretrained:tiny-pose.
pretrain-tiny: $(VENV)/.installed
	$(LAUNCH) training/run.py training/configs/pretrain_tiny.yaml
	$(PY) -m blip_pose.pretrained outputs/pretrain-tiny tiny-pose --command "make pretrain-tiny"

# Lint first: ruff (lint, import order, format) and mypy, configured in pyproject.toml.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The browser tests drive Debian's headless Chromium through its chromedriver (no browser download). Installed when
# apt is there and we may (root, or sudo without a password); otherwise those tests skip and say why.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo=sudo; \
	else echo "not root and no password-less sudo: the browser tests will skip"; exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "no apt-get: the browser tests will skip"; exit 0; fi; \
	$$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium chromium-driver \
	  || echo "chromium install failed: the browser tests will skip"

test: lint browser
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) outputs
