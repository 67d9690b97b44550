"""Decode an image fully before a build accepts it, and catch the JPEG damage that decoding alone lets through.

PIL raises on a JPEG whose file simply stops (``LOAD_TRUNCATED_IMAGES`` stays off), but libjpeg only *warns* when
the scan data ends before the image does (a marker or the end-of-image marker comes early: damaged bytes, a
cut-and-closed file, a header claiming a bigger size than the data holds) and fills every remaining block with
grey; PIL drops the warning. Two checks catch it without a second decoder:

* the marker structure: segments follow each other up to EOI; inside scan data only stuffed ``FF00`` bytes and
  restart markers in their ``RST0..RST7`` order, and only where a restart interval is defined;
* a filler test: the image is decoded twice, once as stored and once with :data:`FILLER` inserted where each run
  of scan data ends (before every restart marker and the marker closing each scan). A complete scan never reads
  those bytes (libjpeg skips bytes after the last block as extraneous), so the pixels are identical; a scan that
  ran out early decodes the filler into the blocks it would otherwise grey-fill, so the pixels differ.

Both decodes use JPEG draft mode at 1/8 scale (still every Huffman code, only the DC of each block): cheap enough
to run on every file before the splits are drawn. Scan data damaged in a way that still ends exactly at the last
block (garbage of the right length) is not detectable without a strict decoder.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

#: Bytes a complete scan never reads; no 0xFF, so they are never taken for a marker.
FILLER = bytes(range(1, 255)) * 4
_SOI, _EOI, _SOS, _DRI = 0xD8, 0xD9, 0xDA, 0xDD
_RST = range(0xD0, 0xD8)
_STANDALONE = {0x01, *_RST}


class _Damaged(Exception):
    """The JPEG's marker structure is broken."""


def _scan_ends(data: bytes) -> list[int]:
    """Offsets of the markers that end a run of scan data (restart markers and each scan's closing marker)."""
    if data[:2] != bytes((0xFF, _SOI)):
        raise _Damaged("no SOI marker")
    pos, restart = 2, 0
    ends: list[int] = []
    while True:
        if pos + 1 >= len(data) or data[pos] != 0xFF:
            raise _Damaged(f"no marker at byte {pos}")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        marker, pos = data[pos + 1] if pos + 1 < len(data) else -1, pos + 2
        if marker == _EOI:
            return ends
        if marker in _STANDALONE:
            raise _Damaged(f"marker FF{marker:02X} outside scan data")
        if pos + 2 > len(data):
            raise _Damaged("segment length past the end of the file")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if marker == _DRI:
            restart = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += length
        if marker == _SOS:
            pos = _scan_data_end(data, pos, restart, ends)


def _scan_data_end(data: bytes, pos: int, restart: int, ends: list[int]) -> int:
    """Walk one scan's entropy-coded data from ``pos``; record where its runs end; return the closing marker."""
    expected = 0
    while True:
        i = data.find(b"\xff", pos)
        if i < 0 or i + 1 >= len(data):
            raise _Damaged("scan data runs to the end of the file")
        nxt = data[i + 1]
        if nxt in (0x00, 0xFF):  # a stuffed 0xFF, or a fill byte before a marker
            pos = i + (2 if nxt == 0x00 else 1)
            continue
        ends.append(i)
        if nxt not in _RST:
            return i
        if restart == 0 or nxt - 0xD0 != expected % 8:
            raise _Damaged(f"restart marker RST{nxt - 0xD0} out of place")
        expected += 1
        pos = i + 2


def _dc_pixels(data: bytes) -> np.ndarray:
    """The image decoded at 1/8 scale (raises OSError & co. when PIL cannot decode it)."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
        image.load()
        return np.asarray(image)


def jpeg_reason(data: bytes) -> str | None:
    """Why JPEG bytes cannot be used, or None: ``corrupt_image`` when PIL cannot decode them (a cut file),
    ``damaged_image_data`` when it can but libjpeg would hide the damage by grey-filling (see the module docstring).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            stored = _dc_pixels(data)
        except (OSError, SyntaxError, ValueError):
            return "corrupt_image"
        try:
            ends = _scan_ends(data)
        except _Damaged:
            return "damaged_image_data"
        if not ends:
            return "damaged_image_data"  # no scan at all
        filled = b"".join(data[a:b] + FILLER for a, b in zip([0, *ends], ends)) + data[ends[-1] :]
        try:
            same = np.array_equal(stored, _dc_pixels(filled))
        except (OSError, SyntaxError, ValueError):
            same = False
    return None if same else "damaged_image_data"
