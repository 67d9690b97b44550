"""benchmarks/compare_families.py: every family's tiny preset trained on the same data, one table and one figure."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from blip_pose import models
from blip_pose.presets import preset_family

ROOT = Path(__file__).resolve().parents[1]


def test_two_families_side_by_side_print_one_table_and_write_one_figure(tmp_path):
    out = tmp_path / "families"
    argv = [sys.executable, str(ROOT / "benchmarks" / "compare_families.py"), "--presets", "tiny", "tiny-git"]
    argv += ["--dataset", "sample", "--seconds", "0", "--max-steps", "2", "--batch-size", "4", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("preset "))
    rows = [line.split(" | ") for line in lines[header + 2 : header + 4]]
    assert [(r[0].strip(), r[1].strip()) for r in rows] == [("tiny", "blip"), ("tiny-git", "git")]
    assert all(r[2].strip() == "1" for r in rows)  # the 0 s budget stops each run after its first step
    assert all(float(r[7]) == 1.0 for r in rows)  # grammar-constrained: every caption parses
    figure = out / "compare" / "compare.png"
    assert str(figure) in done.stdout and Image.open(figure).size[0] > 300
    assert "tiny-git" in (out / "compare" / "compare.md").read_text()


def test_the_default_presets_are_one_per_captioner_family():
    spec = importlib.util.spec_from_file_location("compare_families", ROOT / "benchmarks" / "compare_families.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    families = [preset_family(p) for p in module.CAPTIONER_PRESETS]
    captioners = {f.name for f in models._FAMILIES.values() if f.kind == "captioner"}
    assert sorted(families) == sorted(captioners)  # a new family without a preset in the comparison fails here


def test_runs_are_named_by_their_familys_short_name():
    from blip_pose.analysis.compare import _family_name

    assert _family_name("vision-encoder-decoder") == "ved"  # as the families table and presets name it
    assert _family_name("blip") == "blip" and _family_name("someone-elses") == "someone-elses"
