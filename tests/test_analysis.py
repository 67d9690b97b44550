"""``python -m blip_pose analyze``: the four figures on a short tiny run, and the rules each one rests on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from training_fixtures import run, sample_dataset

from blip_pose.analysis.attention import generate_with_attention, token_labels, token_spans
from blip_pose.analysis.occlusion import BODY_GROUPS, caption_order, patch_mask
from blip_pose.analysis.stages import checkpoints
from blip_pose.cli import main
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_format import joint_spans, parse_coords, parse_loc_batch, render_coords, render_loc
from blip_pose.predictor import PosePredictor

CONFIG = Path(__file__).resolve().parents[1] / "training" / "configs" / "tiny_test.yaml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 4-step tiny run on 3 sample images (evaluated on themselves) with checkpoints at steps 2 and 4."""
    data = sample_dataset(tmp_path_factory.mktemp("sample") / "three", n_train=3, eval_is_train=True)
    out = tmp_path_factory.mktemp("run") / "run"
    flags = ["--save_strategy", "steps", "--save_steps", "2", "--generation_max_length", "24"]
    run.main([str(CONFIG), "--dataset_name", str(data), "--output_dir", str(out), *flags])
    return out


def test_spans_are_what_the_parser_read():
    """Each joint's span re-parses to the joint's coordinates; repeats and garbage are skipped as the parser does."""
    caption = "junk rankl : 12 , 3 rknee:4,5 rankl:9,9 lwri:1234567,2"
    spans = joint_spans(caption, "text")
    parsed = parse_coords(caption)
    for j in range(MPII16.num_keypoints):
        assert (spans[j] is not None) == parsed.found[j]
        if spans[j] is not None:
            again = parse_coords(caption[slice(*spans[j])])
            np.testing.assert_array_equal(again.xy[j], parsed.xy[j])
    assert caption[slice(*spans[0])] == "rankl : 12 , 3"  # the first rankl, not the repeat
    with pytest.raises(ValueError, match="holds no joint coordinates"):
        joint_spans("rankl:1", "visibility_text")


def test_loc_spans_are_what_the_loc_parser_read():
    """Attention labels work for the compact format too: a joint's span is its x and y tokens."""
    xy = np.arange(MPII16.num_keypoints * 2).reshape(MPII16.num_keypoints, 2) * 11 % 380
    caption = " ".join(render_loc(xy, 384, 384).replace("><", "> <").split()[:-1])  # decode spaces; lwri's y cut
    spans = joint_spans(caption, "loc_text")
    values, found = parse_loc_batch([caption])
    assert [s is not None for s in spans] == found[0].tolist() == [True] * 15 + [False]
    for j, span in enumerate(spans[:15]):
        again, _ = parse_loc_batch([caption[slice(*span)]])
        np.testing.assert_array_equal(again[0, 0], values[0, j])


def test_token_labels_match_parser_spans(model_dir):
    """The tokens labelled with a joint are exactly the text the parser read for it."""
    tokenizer = PosePredictor.from_pretrained(model_dir, device="cpu").processor.tokenizer
    xy = np.arange(MPII16.num_keypoints * 2).reshape(MPII16.num_keypoints, 2) * 7 % 300
    ids = tokenizer(render_coords(xy))["input_ids"]
    caption, spans = token_spans(tokenizer, ids)
    labels = token_labels(caption, spans, "text")
    for j, span in enumerate(joint_spans(caption, "text")):
        mine = [spans[k] for k, label in enumerate(labels) if label == j]
        assert span is not None and mine
        assert (mine[0][0], mine[-1][1]) == span
    assert labels[0] is None and labels[-1] is None  # [CLS]/[SEP]


def test_attention_rows_sum_to_one(model_dir):
    """Self- and cross-attention of the generation pass: each written token's row is a distribution over the past."""
    predictor = PosePredictor.from_pretrained(model_dir, device="cpu")
    frames = [Image.new("RGB", (128, 128), c) for c in ("gray", "teal")]
    for head in (1, None):
        for att in generate_with_attention(predictor, frames, None, head):
            n = len(att.tokens)
            assert att.self_attention.shape == (n, n) and n > 1
            np.testing.assert_allclose(att.self_attention[1:].sum(1), 1, atol=1e-5)
            np.testing.assert_allclose(att.cross_attention[1:].sum(1), 1, atol=1e-5)
            assert not np.triu(att.self_attention).any()  # a token never sees itself or the future
            assert att.labels == token_labels(*token_spans(predictor.processor.tokenizer, _ids(predictor, att)), "text")


def test_attention_explains_the_captions_the_predictor_writes(model_dir):
    """Same generation as the predictor (its caption grammar included), so the same captions."""
    predictor = PosePredictor.from_pretrained(model_dir, device="cpu")
    frames = [Image.new("RGB", (128, 128), c) for c in ("gray", "teal")]
    captions = [att.caption for att in generate_with_attention(predictor, frames, None, None)]
    assert captions == predictor.generate(frames)
    assert all(parse_coords(c).found.all() for c in captions)  # the grammar's captions, not unconstrained text


def _ids(predictor, att):
    return predictor.processor.tokenizer.convert_tokens_to_ids(att.tokens)


def test_patch_covers_exactly_its_group():
    """On pixels: every covered joint is grey, no other joint is, even one a pixel away from the group."""
    xy = np.stack([np.arange(MPII16.num_keypoints) * 11 + 5.5, np.full(MPII16.num_keypoints, 40.2)], axis=1)
    xy[6] = xy[2] + (2, 1)  # pelvis right beside the right hip
    found = np.ones(MPII16.num_keypoints, bool)
    for name, group in BODY_GROUPS.items():
        mask = patch_mask(200, 80, xy, found, set(group), half_side=9)
        pix = np.floor(xy).astype(int)
        covered = mask[pix[:, 1], pix[:, 0]]
        assert covered.tolist() == [j in group for j in range(MPII16.num_keypoints)], name
    assert patch_mask(200, 80, xy, found, {15}, 9).sum() == 19 * 19  # the full square where nothing is near


def test_caption_order_is_the_formats():
    assert caption_order(render_coords(np.ones((MPII16.num_keypoints, 2))), "text") == list(range(MPII16.num_keypoints))


def test_stages_picks_checkpoints_by_step(tmp_path):
    for step in (320, 80, 1000, 5):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if step != 5:  # an interrupted save without weights is not a stage
            (tmp_path / f"checkpoint-{step}" / "config.json").write_text("{}")
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-80", "checkpoint-320", "checkpoint-1000"]
    assert [p.name for p in checkpoints(tmp_path, 2)] == ["checkpoint-80", "checkpoint-1000"]


def test_analyze_commands_on_a_run(run_dir, capsys):
    """Each command writes its PNGs and a JSON whose numbers are the run's; occlusion's baseline is the run's
    own evaluation, exactly."""
    assert main(["analyze", "occlusion", str(run_dir)]) == 0
    out = run_dir / "analysis" / "occlusion"
    data = json.loads((out / "occlusion.json").read_text())
    evaluation = json.loads((run_dir / "eval_results.json").read_text())
    for key, value in data["baseline"].items():
        assert evaluation[f"eval_{key}"] == value, key
    assert data["caption_order"] == list(MPII16.captions)
    assert {"right leg", "head", "first 5"} <= set(data["groups"])
    assert all(Image.open(out / f).size[0] > 100 for f in ("occlusion.png", "occlusion_example.png"))

    assert main(["analyze", "stages", str(run_dir), "--images", "2", "--train-images", "1"]) == 0
    stages = json.loads((run_dir / "analysis" / "stages" / "stages.json").read_text())
    assert [c["title"].split(",")[0] for c in stages["columns"]] == ["step 2", "step 4", "final model"]
    assert all(len(c["images"]) == 3 for c in stages["columns"])
    width, height = Image.open(run_dir / "analysis" / "stages" / "stages.png").size
    assert width > height  # 4 columns (ground truth + 3 models), 3 rows

    panels_out = run_dir / "p"
    assert main(["analyze", "panels", str(run_dir), "--images", "2", "--out", str(panels_out)]) == 0
    panels = json.loads((panels_out / "panels.json").read_text())
    assert [p["image_name"] for p in panels["images"]] == _names(run_dir)[:2]

    assert main(["analyze", "attention", str(run_dir), "--head", "mean"]) == 0
    att = json.loads((run_dir / "analysis" / "attention" / "attention.json").read_text())
    assert att["head"] == "mean" and att["layer"] == 2 and att["images"] == 3
    assert len(att["joint_to_joint"]["mean"]) == MPII16.num_keypoints
    assert "wrote 4 files" in capsys.readouterr().out
    assert main(["analyze", "attention", str(run_dir), "--head", "3"]) == 2  # the tiny decoder has 2 heads


def _names(run_dir: Path) -> list[str]:
    lines = (run_dir / "predictions").glob("*.jsonl")
    return [json.loads(line)["image_name"] for line in next(iter(lines)).read_text().splitlines()]
