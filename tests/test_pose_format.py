"""The caption format: every column round-trips, and the parser survives what a model really writes."""

import numpy as np
import pytest

from blip_pose import pose_format as pf
from blip_pose.keypoints.mpii import MPII16


@pytest.fixture
def poses():
    rng = np.random.default_rng(7)
    return [(rng.uniform(0, 384, (16, 2)), rng.integers(0, 2, 16)) for _ in range(50)]


def test_joint_table_is_official_mpii_order():
    assert MPII16.captions == (
        "rankl",
        "rknee",
        "rhip",
        "lhip",
        "lknee",
        "lankl",
        "pelvis",
        "thorax",
        "upper_neck",
        "head",
        "rwri",
        "relb",
        "rsho",
        "lsho",
        "lelb",
        "lwri",
    )
    assert MPII16.num_keypoints == len(MPII16.names) == 16
    assert MPII16.names[3] == "left hip" and MPII16.names[5] == "left ankle"
    assert MPII16.names[9] == "head top" and MPII16.names[11] == "right elbow"
    # Flip pairs are right/left twins and cover every limb joint exactly once.
    flat = [j for pair in MPII16.flip_pairs for j in pair]
    assert len(flat) == len(set(flat)) == 12
    for right, left in MPII16.flip_pairs:
        assert MPII16.names[right].replace("right", "left") == MPII16.names[left]
    # The skeleton is a tree over all 16 joints.
    assert len(MPII16.skeleton) == 15 and {j for e in MPII16.skeleton for j in e} == set(range(16))


def test_pixel_columns_round_trip(poses):
    for xy, vis in poses:
        caps = pf.render_captions(xy, vis, 384, 384, simple_joints=("upper_neck", "lwri"))
        full = pf.parse_coords(caps["text"])
        assert full.found.all()
        np.testing.assert_array_equal(full.xy, pf.round_half_up(xy))
        simple = pf.parse_coords(caps["simple_text"])
        assert simple.found.tolist() == [j in (8, 15) for j in range(16)]
        np.testing.assert_array_equal(simple.xy[[8, 15]], pf.round_half_up(xy)[[8, 15]])


def test_visibility_columns_round_trip(poses):
    for xy, vis in poses:
        caps = pf.render_captions(xy, vis, 384, 384)
        got, found = pf.parse_visibility(caps["visibility_text"])
        assert found.all() and (got == vis).all()
        got, found = pf.parse_visibility(caps["simple_visibility_text"])
        assert found.tolist() == [j == 8 for j in range(16)] and got[8] == vis[8]


def test_normalized_columns_round_trip(poses):
    for xy, vis in poses:
        caps = pf.render_captions(xy, vis, 400, 500)  # a non-square frame: x and y scale apart
        back = pf.parse_normalized(caps["normalized_text"], 400, 500)
        assert back.found.all()
        # 3 decimals: within half a unit of the last decimal of each side.
        assert (np.abs(back.xy - xy).max(0) <= np.array([400, 500]) * 0.0005 + 1e-9).all()
        for v in caps["normalized_text"].replace(",", " ").replace(":", " ").split()[1::3]:
            assert 0 <= float(v) <= 1
        simple = pf.parse_normalized(caps["normalized_simple_text"], 400, 500)
        assert simple.found.sum() == 1 and abs(simple.xy[8] - xy[8]).max() <= 0.25


def test_integer_rounding_is_half_up():
    xy = np.zeros((16, 2))
    xy[0] = (0.5, 2.5)
    xy[1] = (-0.5, 1.4999)
    assert pf.render_coords(xy).startswith("rankl:1,3 rknee:0,1 ")


def test_parser_reads_tokenizer_decode_style():
    caption = "RANKL : 123 , 356 rknee:130,301 upper _ neck : 190 , 80 Head: -4 ,7 lwri : 0. 320, 0. 9"
    parsed = pf.parse_coords(caption)
    assert parsed.found.tolist() == [j in (0, 1, 8, 9, 15) for j in range(16)]
    assert parsed.xy[0].tolist() == [123, 356]
    assert parsed.xy[8].tolist() == [190, 80]
    assert parsed.xy[9].tolist() == [-4, 7]
    assert parsed.xy[15].tolist() == [0.32, 0.9]
    assert np.isnan(parsed.xy[~parsed.found]).all()


def test_parser_repeated_reordered_and_garbage():
    parsed = pf.parse_coords("lwri:1,2 zz rankl:3,4 ## lwri:9,9 rankl rankl:5 headx:7,7 forehead:1,1 thorax:8,")
    assert parsed.found.tolist() == [j in (0, 15) for j in range(16)]
    assert parsed.xy[15].tolist() == [1, 2]  # the first of a repeated joint counts
    assert parsed.xy[0].tolist() == [3, 4]


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "a photo of a person",
        "::::,,,,",
        "rankl:",
        "rankl:12",
        "rankl:1.2.3,4",
        "\x00\uffff",
        None,
        17,
        "rankl:" + "9" * 400 + ",5",
        "rankl:123,356 " * 1000,
    ],
)
def test_parser_never_raises(garbage):
    parsed = pf.parse_coords(garbage)
    assert parsed.xy.shape == (16, 2) and parsed.found.shape == (16,)
    assert np.isfinite(parsed.xy[parsed.found]).all()
    vis, found = pf.parse_visibility(garbage)
    assert vis.shape == found.shape == (16,)


def test_huge_numbers_are_not_found_and_truncation_drops_the_joint():
    parsed = pf.parse_coords("rankl:1234567,5 rknee:999999,5 rhip:12,")
    assert parsed.found.tolist()[:3] == [False, True, False]
    assert parsed.xy[1].tolist() == [999999, 5]


def test_visibility_rejects_values_other_than_zero_one():
    vis, found = pf.parse_visibility("rankl:1 rknee:2 rhip : 0 lhip:1,5")
    assert found.tolist()[:4] == [True, False, True, False]
    assert vis[0] == 1 and vis[2] == 0


def test_batch_parser_matches_single_parser():
    rng = np.random.default_rng(3)
    caps = [pf.render_coords(rng.uniform(-20, 400, (16, 2))) for _ in range(30)]
    decoded = [c.replace(":", " : ").replace(",", ", ").replace("_", " _ ").replace("-", "- ") for c in caps[:5]]
    caps += decoded + ["rankl : 1 , 2", "garbage", None, caps[0].upper(), caps[1][:-3], decoded[0].replace(" :", "")]
    xy, found = pf.parse_coords_batch(caps)
    for i, c in enumerate(caps):
        single = pf.parse_coords(c)
        np.testing.assert_array_equal(found[i], single.found)
        np.testing.assert_array_equal(xy[i], single.xy)


def test_render_refuses_bad_poses():
    with pytest.raises(ValueError, match="shape"):
        pf.render_coords(np.zeros((15, 2)))
    bad = np.zeros((16, 2))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pf.render_coords(bad)
    outside = np.full((16, 2), 10.0)
    outside[4] = (500, 10)
    with pytest.raises(ValueError, match="lknee"):
        pf.render_normalized(outside, 384, 384)
    with pytest.raises(ValueError, match="0 or 1"):
        pf.render_visibility(np.full(16, 2))
    with pytest.raises(ValueError, match="unknown joint name 'neck'"):
        MPII16.ids(["neck"])
