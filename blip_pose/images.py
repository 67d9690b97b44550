"""Opening images safely: every failure becomes an :class:`ImageError` naming the file and a reason code.

Used by the dataset builder (which counts reasons as skips) and by the predictor (which reports and goes on).
PIL's decompression-bomb guard is kept and its warning is promoted to an error, so an oversized image is refused
rather than decoded into gigabytes of memory.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath

from PIL import Image, ImageOps, UnidentifiedImageError

EXIF_ORIENTATION_TAG = 0x0112


class ImageError(ValueError):
    """An image that cannot be used. ``reason`` is a short code (``missing_image``, ``corrupt_image``, ...)."""

    def __init__(self, name: str, reason: str, detail: str) -> None:
        super().__init__(f"{name}: {detail} [{reason}]")
        self.name = name
        self.reason = reason


def safe_join(root: str | Path, name: str) -> Path:
    """``root / name``, refusing names that are absolute or climb out of ``root`` (``../``, drive letters)."""
    if (
        not name
        or PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).is_absolute()
        or PureWindowsPath(name).drive
    ):
        raise ImageError(str(name), "unsafe_name", f"image name must be relative to {root}")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise ImageError(name, "unsafe_name", f"image name escapes the images folder {root}")
    root = Path(root).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ImageError(name, "unsafe_name", f"image name resolves outside the images folder {root}")
    return path


def check_regular_file(path: str | Path, name: str | None = None) -> None:
    """Refuse a missing path or anything but a regular file before it is opened: a FIFO blocks ``open`` forever,
    a device never ends."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(name or str(path), "missing_image", "file not found") from None
    except OSError as err:
        raise ImageError(name or str(path), "missing_image", f"cannot stat the file ({err.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ImageError(name or str(path), "not_a_regular_file", "not a regular file (a FIFO, device or folder)")


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright, 2..8 = flipped/rotated); 1 when absent."""
    try:
        return int(image.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:  # a malformed EXIF block says nothing reliable about orientation
        return 1


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any PIL mode; transparency is composited on white instead of becoming black."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # Wide grey levels: scale to 8 bit rather than clip everything above 255 to white.
        import numpy as np

        arr = np.asarray(image, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 0 else 1.0
        image = Image.fromarray((arr / hi * 255).astype("uint8"), "L")
    return image.convert("RGB")


def open_image(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    exif: str = "transpose",
    draft_size: tuple[int, int] | None = None,
) -> tuple[Image.Image, tuple[int, int]]:
    """Decode an image to RGB.

    Args:
        source: a path or the encoded bytes.
        name: what error messages call the image (defaults to the path).
        exif: ``"transpose"`` honours the EXIF orientation (a user's photo, shown upright), ``"refuse"`` raises
            ``ImageError(reason="exif_orientation")`` for a rotated image (annotations of unknown frame).
        draft_size: let JPEG decode at a reduced size no smaller than this (PIL draft mode; much faster).

    Returns:
        ``(image, original_size)``: the RGB image, possibly smaller than the file when drafted, and the full
        ``(width, height)`` of the file (after orientation), which coordinates refer to.
    """
    if exif not in ("transpose", "refuse"):
        raise ValueError(f"exif must be 'transpose' or 'refuse', got {exif!r}")
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    if not isinstance(source, bytes):
        check_regular_file(source, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            orientation = exif_orientation(image)
            if orientation != 1 and exif == "refuse":
                raise ImageError(label, "exif_orientation", f"EXIF orientation {orientation}: annotation frame unknown")
            size = image.size
            if draft_size is not None and image.format == "JPEG":
                image.draft("RGB", draft_size)
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(label, "decompression_bomb", f"refused by PIL's decompression-bomb guard ({err})") from None
    except UnidentifiedImageError:
        raise ImageError(label, "not_an_image", "not a readable image file") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(label, "corrupt_image", f"corrupt or truncated image ({err})") from None
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
        if orientation in (5, 6, 7, 8):  # 90-degree turns swap the axes
            size = (size[1], size[0])
    return to_rgb(image), size
