"""Predict image files into a folder: ``predictions.jsonl`` (one JSON record per image, whatever their number) and a
skeleton overlay PNG per image.

A file that cannot be used (missing, not an image, corrupt, over PIL's decompression-bomb limit) is reported on
stderr, recorded with an ``error`` field and counted in the summary; the other files are still predicted.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from tqdm.auto import tqdm

from blip_pose.images import ImageError
from blip_pose.overlay import draw_pose

if TYPE_CHECKING:  # the predictor pulls in torch; this module is imported by the CLI before it is needed
    from blip_pose.predictor import PersonBox, PosePredictor

JSONL_FILE = "predictions.jsonl"


@dataclass
class Summary:
    """What a run of :func:`predict_files` did."""

    predicted: int = 0
    failed: Counter = field(default_factory=Counter)  # reason code -> count
    outputs: list[Path] = field(default_factory=list)

    def line(self) -> str:
        total = self.predicted + sum(self.failed.values())
        text = f"predicted {self.predicted} of {total} image(s)"
        if self.failed:
            reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.failed.items()))
            text += f"; {sum(self.failed.values())} failed ({reasons})"
        return text


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given; a folder stands for its image files (by extension, sorted). An empty result is an error."""
    extensions = set(Image.registered_extensions())
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend(sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in extensions))
        else:
            paths.append(item)
    if not paths:
        raise ValueError(f"no image files in {', '.join(map(str, inputs)) or 'the arguments'}")
    return paths


def output_stems(paths: Sequence[Path]) -> list[str]:
    """A distinct file stem per input (``a``, ``a-1``, ... when names repeat across folders).

    A suffixed name can collide with another input's own stem (``x/a``, ``y/a``, ``a-1``), so each candidate is
    checked against every name already handed out; otherwise one overlay would silently overwrite another.
    """
    used: set[str] = set()
    stems = []
    for path in paths:
        stem, n = path.stem, 0
        while stem in used:
            n += 1
            stem = f"{path.stem}-{n}"
        used.add(stem)
        stems.append(stem)
    return stems


BOX_FORMS = '[x0, y0, x1, y1] with x1 > x0 and y1 > y0, or {"center": [x, y], "scale": s} with s > 0'


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_box(value: Any) -> bool:
    """One of the two :data:`BOX_FORMS`, checked here so that a bad file fails before the model is loaded."""
    if isinstance(value, Mapping):
        center, scale = value.get("center"), value.get("scale")
        if not (isinstance(center, list) and len(center) == 2 and all(map(_finite, center)) and _finite(scale)):
            return False
        return bool(scale > 0)  # type: ignore[operator]  # _finite made it a number
    if isinstance(value, list) and len(value) == 4 and all(map(_finite, value)):
        x0, y0, x1, y1 = value
        return x1 > x0 and y1 > y0
    return False


def read_boxes(path: str | Path, paths: Sequence[Path]) -> list[PersonBox | None]:
    """Person boxes per input from a JSON object ``{image path or file name: box}`` (see :data:`BOX_FORMS`)."""
    from blip_pose.run_record import read_json

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such box file")
    data = read_json(path)
    if not data:
        raise ValueError(f"{path}: no person boxes (expected a JSON object of image name -> box)")
    names = {str(p) for p in paths} | {p.name for p in paths}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{path}: boxes for images that are not inputs: {', '.join(unknown)}")
    for key, value in data.items():
        if not _is_box(value):
            raise ValueError(f"{path}: box for {key!r} must be {BOX_FORMS}, got {json.dumps(value)}")
    return [data.get(str(p), data.get(p.name)) for p in paths]


def read_coco_boxes(path: str | Path, paths: Sequence[Path]) -> tuple[list[Path], list[PersonBox | None], list[dict]]:
    """One input per person a COCO file annotates: ``(paths, boxes, ids)`` with each input image repeated once per
    non-crowd annotation of it (matched by ``file_name`` or its name; ``bbox`` x, y, w, h -> x0, y0, x1, y1) and
    its ``image_id``/``annotation_id``/``bbox`` for the records; an image the file does not annotate is kept once
    without a box."""
    from blip_pose.run_record import read_json

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such COCO file")
    data = read_json(path)
    if not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        raise ValueError(f"{path}: not a COCO file (no images and annotations lists)")
    try:
        names = {int(image["id"]): str(image["file_name"]) for image in data["images"]}
        persons: dict[str, list[dict]] = {}
        for ann in data["annotations"]:
            x, y, w, h = (float(v) for v in ann["bbox"])
            if not ann.get("iscrowd") and w > 0 and h > 0 and int(ann["image_id"]) in names:
                entry = {"image_id": int(ann["image_id"]), "annotation_id": ann.get("id"), "bbox": [x, y, w, h]}
                persons.setdefault(names[int(ann["image_id"])], []).append(entry)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: a malformed image or annotation entry ({type(err).__name__}: {err})") from None
    out_paths: list[Path] = []
    boxes: list[PersonBox | None] = []
    ids: list[dict] = []
    for p in paths:
        found = persons.get(str(p)) or persons.get(p.name) or next((v for k, v in persons.items() if Path(k).name ==
                                                                    p.name), [])  # fmt: skip
        for entry in found or [{}]:
            out_paths.append(p)
            x, y, w, h = entry.get("bbox", (0, 0, 0, 0))
            boxes.append((x, y, x + w, y + h) if entry else None)
            ids.append(entry)
    return out_paths, boxes, ids


def predict_files(
    predictor: PosePredictor,
    paths: Sequence[Path],
    out_dir: str | Path,
    *,
    batch_size: int = 8,
    person_boxes: Sequence[PersonBox | None] | None = None,
    record_extra: Sequence[dict] | None = None,
    overlays: bool = True,
    names: bool = True,
    progress: bool | None = None,
) -> Summary:
    """Predict ``paths`` into ``out_dir``: ``predictions.jsonl`` (input order) and ``<stem>.png`` overlays.

    ``record_extra``: per input, keys added to its record (a COCO person's ids and box).
    ``names``: write joint names on the overlays. ``progress``: show a tqdm bar (default: for more than one image).
    """
    from blip_pose.predictor import load_image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = output_stems(paths)
    boxes = list(person_boxes) if person_boxes is not None else [None] * len(paths)
    single = len(paths) == 1
    summary = Summary()
    record_path = out_dir / JSONL_FILE
    summary.outputs.append(record_path)
    bar = tqdm(total=len(paths), unit="image", disable=not (progress if progress is not None else not single))
    with record_path.open("w", encoding="utf-8") as records:
        for start in range(0, len(paths), batch_size):
            chunk = range(start, min(start + batch_size, len(paths)))
            loaded: dict[int, Image.Image] = {}
            errors: dict[int, ImageError] = {}
            for i in chunk:
                try:
                    loaded[i] = load_image(paths[i])[0]
                except ImageError as err:
                    errors[i] = err
                    summary.failed[err.reason] += 1
                    tqdm.write(f"error: {err}", file=sys.stderr)
            order = sorted(loaded)
            poses = predictor.predict_images(
                [loaded[i] for i in order],
                [boxes[i] for i in order],
                [str(paths[i]) for i in order],
                batch_size=batch_size,
            )
            results = dict(zip(order, poses))
            for i in chunk:  # input order, failures included
                if i in errors:
                    record = {"image": str(paths[i]), "error": str(errors[i]), "reason": errors[i].reason}
                else:
                    record = {**results[i].to_dict(), **(record_extra[i] if record_extra else {})}
                    summary.predicted += 1
                    if overlays:
                        overlay = out_dir / f"{stems[i]}.png"
                        draw_pose(
                            loaded[i],
                            results[i].xy,
                            results[i].found,
                            names=names,
                            label=paths[i].name,
                            joints=predictor.caption_joints,
                            spec=predictor.spec,
                        ).save(overlay)
                        summary.outputs.append(overlay)
                records.write(json.dumps(record) + "\n")
            bar.update(len(chunk))
    bar.close()
    return summary
