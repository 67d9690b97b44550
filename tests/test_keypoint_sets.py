"""A keypoint set other than MPII-16 goes through the same caption, parsing, scoring and drawing code.

The toy set is a five-keypoint hand scored by PCK against the person (hand) box, as a COCO-style set would be.
"""

import json
import re

import numpy as np
import pytest
from PIL import Image

from blip_pose import pose_format as pf
from blip_pose.geometry import Preprocessing
from blip_pose.keypoints import DEFAULT_SPEC, KEYPOINTS_CARD_KEY, KeypointSpec
from blip_pose.keypoints.mpii import MPII16
from blip_pose.keypoints.saved import card_spec, spec_beside
from blip_pose.overlay import SIDE_COLORS, draw_pose, side
from blip_pose.pose_metrics import parse_captions, pose_scores

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
HAND = KeypointSpec(
    name="hand",
    names=tuple(f"{f} tip" for f in FINGERS),
    captions=FINGERS,
    skeleton=((0, 1), (1, 2), (2, 3), (3, 4)),
    flip_pairs=((0, 4),),  # thumb drawn as "right", pinky as "left": enough to check the sides come from the spec
    normalizer="person",
    mean_excluded=(2,),
    simple_joints=("index",),
)
XY = np.array([[10, 20], [30, 40], [50, 60], [70, 80], [90, 100]], dtype=float)


def test_render_and_parse_every_column():
    captions = pf.render_captions(XY, np.array([1, 0, 1, 1, 0]), 128, 128, spec=HAND)
    assert captions["text"] == "thumb:10,20 index:30,40 middle:50,60 ring:70,80 pinky:90,100"
    assert captions["simple_text"] == "index:30,40"  # the spec's own simple subset
    assert captions["visibility_text"] == "thumb:1 index:0 middle:1 ring:1 pinky:0"
    assert captions["normalized_simple_text"] == "index:0.234,0.312"
    assert len(captions["loc_text"].split("><")) == 2 * HAND.num_keypoints
    parsed = pf.parse_coords(captions["text"], spec=HAND)
    assert parsed.found.all() and np.array_equal(parsed.xy, XY)
    vis, found = pf.parse_visibility(captions["visibility_text"], spec=HAND)
    assert found.all() and vis.tolist() == [1, 0, 1, 1, 0]
    with pytest.raises(ValueError, match=r"shape \(5, 2\)"):
        pf.render_coords(np.zeros((16, 2)), spec=HAND)
    # MPII names are not hand keypoints, and the reverse.
    assert not pf.parse_coords("rankl:1,2 head:3,4", spec=HAND).found.any()
    assert not pf.parse_coords(captions["text"]).found.any()


def test_batch_parse_fast_path_decode_spacing_and_fallback_agree_with_the_parser():
    text = pf.render_coords(XY, spec=HAND)
    decoded = text.replace(":", " : ").replace(",", " , ").upper()  # what a WordPiece decode writes
    partial = "index:3,4 garbage thumb:1,2 index:9,9"
    captions = [text, decoded, partial, "", "rankl:1,2"]
    xy, found = pf.parse_coords_batch(captions, spec=HAND)
    assert xy.shape == (5, 5, 2) and found.shape == (5, 5)
    assert found[0].all() and found[1].all() and np.array_equal(xy[1], XY)
    assert found[2].tolist() == [True, True, False, False, False] and xy[2, 1].tolist() == [3, 4]
    assert not found[3:].any()
    for caption, row_xy, row_found in zip(captions, xy, found):
        one = pf.parse_coords(caption, spec=HAND)
        assert np.array_equal(one.found, row_found)
        assert np.array_equal(np.nan_to_num(one.xy, nan=-1), np.nan_to_num(row_xy, nan=-1))
    spans = pf.joint_spans(text, "text", spec=HAND)
    assert [text[a:b] for a, b in spans] == text.split()  # type: ignore[misc]


def test_loc_captions_round_trip_with_2k_tokens():
    caption = pf.render_loc(XY, 128, 128, spec=HAND)
    assert caption.count("<loc") == 10
    xy, found = pf.parse_pixels([caption], "loc_text", np.array([[128.0, 128.0]]), spec=HAND)
    assert found.all() and np.allclose(xy[0], XY)  # 384 bins over 128 px: whole pixels come back exactly
    spans = pf.joint_spans(caption, "loc_text", spec=HAND)
    assert spans[4] == (caption.rindex("<loc", 0, caption.rindex("<loc")), len(caption))
    # Fewer than 2K tokens: three tokens give the thumb (x, y) and only the index finger's x.
    tokens = re.findall(r"<loc\d+>", caption)
    fractions, found = pf.parse_loc_batch(["".join(tokens[:3])], spec=HAND)
    assert found[0].tolist() == [True, False, False, False, False]
    assert np.allclose(fractions[0, 0] * 128, XY[0])


def test_scores_with_the_person_box_normaliser():
    ref = [pf.render_coords(XY, spec=HAND)]
    moved = XY.copy()
    moved[4, 1] += 30  # the pinky 30 px off: outside 0.2 x 100 px
    moved[2, 0] += 25  # the middle finger too, but it is left out of the mean
    ref_xy, ref_found = parse_captions(ref, "text", what="references", check_type=True, spec=HAND)
    pred_xy, pred_found = parse_captions([pf.render_coords(moved, spec=HAND)], "text", spec=HAND)
    out = pose_scores(pred_xy, pred_found, ref_xy, ref_found, person_boxes=[[0, 0, 100, 40]], spec=HAND)
    assert out["pck_person@0.2"] == pytest.approx(3 / 4)  # thumb, index, ring of the four counted
    assert (out["pck_person@0.2/pinky"], out["pck_person@0.2/middle"], out["pck_person@0.2/thumb"]) == (0, 0, 1)
    assert out["pck@5/thumb"] == 1.0 and out["mae"] == pytest.approx(55 / 5)
    assert not any(key.startswith("pckh") for key in out)
    with pytest.raises(ValueError, match="person box; give person_boxes"):
        pose_scores(pred_xy, pred_found, ref_xy, ref_found, head_sizes=[10.0], spec=HAND)
    with pytest.raises(ValueError, match=r"person_boxes\[0\]"):
        pose_scores(pred_xy, pred_found, ref_xy, ref_found, person_boxes=[[5, 5, 5, 5]], spec=HAND)
    mpii = np.zeros((1, 16, 2))
    with pytest.raises(ValueError, match="head size; give head_boxes"):
        pose_scores(mpii, np.ones((1, 16), bool), mpii, np.ones((1, 16), bool), person_boxes=[[0, 0, 9, 9]])


def test_overlay_draws_the_spec_skeleton_and_sides():
    assert [side(j, HAND) for j in range(5)] == ["right", "centre", "centre", "centre", "left"]
    image = Image.new("RGB", (128, 128), "black")
    out = draw_pose(image, XY, names=False, spec=HAND)
    for joint in range(5):  # 128 px < MIN_SIDE: drawn twice as large
        x, y = (XY[joint] * 2 + 0.5).astype(int)
        assert out.getpixel((int(x), int(y))) == SIDE_COLORS[side(joint, HAND)]
    # A limb of the hand's skeleton (index-middle) is drawn halfway between its ends.
    mid = ((XY[1] + XY[2]) / 2 * 2 + 0.5).astype(int)
    assert out.getpixel((int(mid[0]), int(mid[1]))) == SIDE_COLORS["centre"]
    missing = draw_pose(image, XY, np.array([1, 1, 1, 1, 0], bool), spec=HAND)
    assert missing.size == out.size


def test_the_spec_travels_beside_a_model_and_in_a_card(tmp_path):
    assert spec_beside(tmp_path) is DEFAULT_SPEC  # an older model: MPII-16
    HAND.save(tmp_path)
    assert spec_beside(tmp_path) == HAND
    # Preprocessing checks its simple joints against the set saved beside it.
    Preprocessing(simple_joints=("index",)).save(tmp_path)
    assert Preprocessing.load(tmp_path).simple_ids(HAND) == [1]
    with pytest.raises(ValueError, match="unknown joint name 'index'"):
        Preprocessing.load(tmp_path, MPII16)
    assert card_spec(None) is DEFAULT_SPEC and card_spec("mpii16") is MPII16
    assert card_spec(json.loads(json.dumps(HAND.to_dict()))) == HAND
    with pytest.raises(ValueError, match=f"{KEYPOINTS_CARD_KEY}: unknown keypoint set 'nope'"):
        card_spec("nope")


def test_training_reads_the_dataset_cards_keypoint_set(tmp_path):
    import yaml
    from datasets import Dataset

    from blip_pose.training.data import DataError, dataset_keypoints

    data = Dataset.from_dict({"text": ["thumb:1,2"]})  # config "default"
    assert dataset_keypoints(data, str(tmp_path)) is DEFAULT_SPEC  # no card: MPII-16
    card = {KEYPOINTS_CARD_KEY: {"default": HAND.to_dict()}}
    (tmp_path / "README.md").write_text(f"---\n{yaml.safe_dump(card)}---\n\n# hands\n")
    assert dataset_keypoints(data, str(tmp_path)) == HAND
    (tmp_path / "README.md").write_text(f"---\n{yaml.safe_dump({KEYPOINTS_CARD_KEY: {'default': 'nope'}})}---\n")
    with pytest.raises(DataError, match=r"card: pose_keypoints: unknown keypoint set 'nope'"):
        dataset_keypoints(data, str(tmp_path))


def test_the_predictor_reads_the_keypoint_set_saved_beside_the_model(model_dir, tmp_path, monkeypatch):
    from pose_model_fixtures import copy_model

    from blip_pose.predictor import PosePredictor

    folder = copy_model(model_dir, tmp_path / "hand", Preprocessing(simple_joints=("index",)))
    HAND.save(folder)
    predictor = PosePredictor.from_pretrained(folder, device="cpu", constrained=False)
    assert predictor.spec == HAND and predictor.caption_joints == [0, 1, 2, 3, 4]
    caption = pf.render_coords(XY, spec=HAND)
    monkeypatch.setattr(predictor, "generate", lambda frames: [caption] * len(frames))
    pose = predictor(Image.new("RGB", (384, 384)))
    assert [(j.name, j.joint) for j in pose.joints] == list(zip(HAND.captions, HAND.names))
    assert pose.xy.shape == (5, 2) and pose.found.all() and np.allclose(pose.xy, XY)
    with pytest.raises(ValueError, match="unknown joint name 'index'"):  # an MPII model cannot name a finger
        Preprocessing.load(folder, MPII16)
