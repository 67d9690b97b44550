"""First-hour defaults of the analyses and figures: occlusion covers a bounded number of images unless asked for all,
a missing run folder is one line, and plots of a run that evaluates on training images do not call it validation."""

from __future__ import annotations

import json

import pytest

import blip_pose.training.plots as plots
from blip_pose.analysis import commands
from blip_pose.cli import _parser, main


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("flags", "limit"), [([], 200), (["--max-images", "0"], None), (["--images", "7"], 7)])
def test_occlusion_covers_200_images_by_default(flags, limit, monkeypatch):
    from blip_pose.analysis import common

    seen = []

    def load_split(dataset, config, split, column, n):
        seen.append(n)
        raise _Stop

    monkeypatch.setattr(commands, "_predictor", lambda args: type("P", (), {"caption_column": "text"})())
    monkeypatch.setattr(common, "load_split", load_split)
    args = _parser().parse_args(["analyze", "occlusion", "run", "--dataset", "d", *flags])
    with pytest.raises(_Stop):
        commands.occlusion(args)
    assert seen == [limit]  # was None (the whole split: 1,704 MPII images, > 15 min on 2 cores)


def test_stages_of_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["analyze", "stages", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: no such run folder"


@pytest.mark.parametrize(("split", "expected"), [("train", "Evaluation (train split)"), ("validation", "Validation")])
def test_plots_name_the_split_the_run_evaluated(split, expected, tmp_path, monkeypatch):
    (tmp_path / "run_config.json").write_text(json.dumps({"data": {"eval_split": split}}))
    titles: list[str] = []
    real = plots._save

    def save(fig, path, data_note=None):
        titles.extend(ax.get_title() for ax in fig.axes)
        titles.extend(t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts())
        return real(fig, path, data_note)

    monkeypatch.setattr(plots, "_save", save)
    history = [{"step": 1, "loss": 2.0}, {"step": 1, "eval_loss": 2.5, "eval_accuracy@25": 0.2, "eval_mae": 30.0}]
    plots.plot_training_curves(history, tmp_path)
    assert f"{expected} accuracy@T (pixels)" in titles and f"{expected} MAE (parsed joints)" in titles
    assert expected.lower() in titles  # the loss curve's legend
    assert split == "validation" or not any("Validation" in t for t in titles)
