"""One parser, one answer: the batch parser, the single-caption parser and the metric agree on any unicode text,
and only ASCII digits are numbers (a full-width or Arabic-Indic digit is garbage everywhere)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blip_pose import pose_format as pf
from blip_pose.keypoints.mpii import MPII16
from blip_pose.pose_metrics import parse_captions

CANONICAL = pf.render_coords(np.arange(32, dtype=np.float64).reshape(16, 2) * 7 + 10)
# Digits of other scripts ("１０" full width, "١٠" Arabic-Indic, "१०" Devanagari), letters that lower() maps to
# ASCII ("K" Kelvin sign, "İ"), and non-ASCII spaces.
NON_ASCII = ["１", "０", "٣", "١", "٠", "१", "०", "\u212a", "İ", "\u00a0", "\u2003", "ſ"]
PIECES = st.sampled_from([*MPII16.captions, ":", ",", " ", " : ", " , ", "-", "_", " _ ", *NON_ASCII])


def _swap(caption: str, swaps: list[tuple[int, str]]) -> str:
    chars = list(caption)
    for position, char in swaps:
        chars[position % len(chars)] = char
    return "".join(chars)


# Canonical captions with a few characters replaced (the batch parser's fast path is tried on these) and free text.
CAPTIONS = st.one_of(
    st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(NON_ASCII + ["1", "A", " "])), max_size=4).map(
        lambda swaps: _swap(CANONICAL, swaps)
    ),
    st.lists(st.one_of(PIECES, st.integers(-999, 99_999).map(str), st.text(max_size=3)), max_size=30).map("".join),
    st.text(max_size=100),
)


@settings(max_examples=500, deadline=None)
@given(CAPTIONS)
def test_batch_and_single_parsers_agree_on_any_unicode(caption):
    single = pf.parse_coords(caption)
    xy, found = pf.parse_coords_batch([caption])
    np.testing.assert_array_equal(found[0], single.found)
    np.testing.assert_array_equal(xy[0], single.xy)
    metric_xy, metric_found = parse_captions([caption], "text")  # what the metric scores
    np.testing.assert_array_equal(metric_found[0], single.found)


@pytest.mark.parametrize(
    "digits", [str.maketrans("0123456789", "０１２３４５６７８９"), str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")]
)
def test_non_ascii_digits_are_garbage_in_every_parser(digits):
    caption = CANONICAL.replace("rankl:10,17", "rankl:10,17".translate(digits))
    assert caption != CANONICAL
    xy, found = pf.parse_coords_batch([caption])  # raised "ValueError: ... unmatched data"
    assert not found[0, 0] and found[0, 1:].all()
    assert not pf.parse_coords(caption).found[0]  # read "１０" as 10
    vis, vfound = pf.parse_visibility("rankl:１ rknee:1")
    assert not vfound[0] and vfound[1]
    loc, lfound = pf.parse_loc_batch(["<loc5>" * 31 + "<loc１０>"])
    assert lfound[0, :15].all() and not lfound[0, 15]
