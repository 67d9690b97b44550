"""Occlusion study (the method's Figure 8, over a whole split): cover a group of joints with grey patches,
generate, and measure the error of the covered joints, of the others, and of the others written before vs after
the first covered joint in caption order (the claim that a mistake early in the caption propagates).

Errors are Euclidean, in pixels of the model's input frame (the unit of the run's ``mae``), over joints the
reference has and the prediction found; how often a joint went missing is reported beside. Each masked number has
its unmasked counterpart on the same images and joints, so the increase is the effect of the patch.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from blip_pose.analysis.common import Split, fit, generate, tiles, write_json
from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.keypoints.mpii import MPII16
from blip_pose.overlay import draw_comparison
from blip_pose.pose_format import joint_spans
from blip_pose.pose_metrics import HEAD_SIZE_FACTOR, joint_errors
from blip_pose.predictor import PosePredictor
from blip_pose.training.evaluation import PoseMetrics, load_pose_metric

#: Grey of the patches (the middle of the pixel range: no colour, no edge the model could take for a limb).
PATCH_FILL = (128, 128, 128)
#: Without a head box, a head is taken as this share of the person's height (MPII scale x 200 px).
HEAD_PER_PERSON_HEIGHT = 1 / 8
FIRST_K = (1, 2, 3, 4, 5)


def _ids(*names: str) -> tuple[int, ...]:
    return tuple(MPII16.ids(names))


_LIMBS = {
    "right leg": _ids("rankl", "rknee", "rhip"),
    "left leg": _ids("lhip", "lknee", "lankl"),
    "right arm": _ids("rwri", "relb", "rsho"),
    "left arm": _ids("lsho", "lelb", "lwri"),
}
#: MPII-16's named body parts (other keypoint sets are covered by the first-k groups only).
BODY_GROUPS: dict[str, tuple[int, ...]] = {
    **_LIMBS,
    "lower body": _ids("rankl", "rknee", "rhip", "lhip", "lknee", "lankl", "pelvis"),
    "upper body": _ids("thorax", "upper_neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri"),
    "head": _ids("upper_neck", "head"),
}


def caption_order(caption: str, column: str, spec: KeypointSpec = DEFAULT_SPEC) -> list[int]:
    """Joint ids in the order a caption of ``column`` writes them (every joint must be in it)."""
    spans = joint_spans(caption, column, spec=spec)
    missing = [j for j, span in enumerate(spans) if span is None]
    if missing:
        k = spec.num_keypoints
        raise ValueError(f"caption column {column!r} does not write all {k} joints; occlusion needs them")
    return sorted(range(spec.num_keypoints), key=lambda j: spans[j][0])  # type: ignore[index]


def joint_groups(order: list[int], spec: KeypointSpec = DEFAULT_SPEC) -> dict[str, tuple[int, ...]]:
    """Each limb, lower body, upper body, head (MPII-16), and the first k joints of the caption ``order``
    (k = 1..5)."""
    body = BODY_GROUPS if spec == MPII16 else {}
    return {**body, **{f"first {k}": tuple(sorted(order[:k])) for k in FIRST_K if k <= len(order)}}


def head_sizes(split: Split) -> np.ndarray:
    """(N,) head size per image in input pixels: 0.6 x head-box diagonal, else a share of the person height (MPII's
    scale, or a top-down crop's person box)."""
    data, n = split.data, len(split.frames)
    sizes = np.full(n, np.nan)
    if split.refs.head_boxes is not None:
        box = split.refs.head_boxes
        sizes = HEAD_SIZE_FACTOR * np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    if not np.isfinite(sizes).all() and {"person_scale", "scale_y"} <= set(data.column_names):
        height = np.asarray(data["person_scale"], float) * 200 * np.asarray(data["scale_y"], float)
        sizes = np.where(np.isfinite(sizes), sizes, HEAD_PER_PERSON_HEIGHT * height)
    if not np.isfinite(sizes).all() and "person_box" in data.column_names and split.refs.crop_boxes is not None:
        # top-down crops (COCO sources): the person box's height (x, y, w, h in original pixels) in input pixels
        box, crop = np.asarray(data["person_box"], float), split.refs.crop_boxes
        height = box[:, 3] * split.refs.sizes[:, 1] / (crop[:, 3] - crop[:, 1])
        sizes = np.where(np.isfinite(sizes), sizes, HEAD_PER_PERSON_HEIGHT * height)
    bad = np.flatnonzero(~(np.isfinite(sizes) & (sizes > 0)))
    if bad.size:
        raise ValueError(
            f"split {split.name!r}, {split.refs.names[bad[0]]}: no head_box, person_scale or person_box to size patches"
        )
    return sizes


def patch_mask(
    width: int, height: int, xy: np.ndarray, found: np.ndarray, covered: set[int], half_side: float
) -> np.ndarray:
    """bool (height, width): a filled square around each covered joint, ``half_side`` px from its pixel, shrunk
    where needed so that it never reaches the pixel of a joint outside the group (so exactly the group is hidden).

    Args:
        xy, found: (K, 2), (K,) joints in the image's 0-based pixels (a joint lies in pixel ``floor(xy)``).
    """
    mask = np.zeros((height, width), dtype=bool)
    pix = np.floor(np.nan_to_num(xy, nan=-1.0)).astype(int)
    inside = found & (pix[:, 0] >= 0) & (pix[:, 0] < width) & (pix[:, 1] >= 0) & (pix[:, 1] < height)
    others = pix[[j for j in range(len(pix)) if inside[j] and j not in covered]]
    for j in sorted(covered):
        if not inside[j]:
            continue
        gap = np.abs(others - pix[j]).max(axis=1).min() if len(others) else np.inf  # Chebyshev distance
        half = int(min(half_side, gap - 1))
        if half < 0:
            continue  # another joint lies in this joint's pixel: it cannot be hidden alone
        x, y = pix[j]
        mask[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1] = True
    return mask


def masked(frame: Image.Image, mask: np.ndarray) -> Image.Image:
    pixels = np.array(frame.convert("RGB"))
    pixels[mask] = PATCH_FILL
    return Image.fromarray(pixels)


def _summary(errors: np.ndarray, found: np.ndarray, select: np.ndarray) -> dict[str, float | int | None]:
    """Mean error over selected (image, joint) pairs that were found, the share missing, and how many."""
    hit = select & found
    return {
        "mean_error_px": float(errors[hit].mean()) if hit.any() else None,
        "missing_rate": float(1 - hit.sum() / select.sum()) if select.any() else None,
        "joints": int(select.sum()),
    }


def occlusion(
    predictor: PosePredictor,
    split: Split,
    out: Path,
    *,
    patch_scale: float = 1.0,
    batch_size: int = 8,
    example: int = 0,
    cell: int = 224,
) -> list[Path]:
    """``occlusion.png`` (bar chart), ``occlusion_example.png`` (one image under every group) and
    ``occlusion.json``; the unmasked baseline is scored exactly as the training evaluation scores the split."""
    refs, column, spec = split.refs, split.column, predictor.spec
    scorer = PoseMetrics(predictor.processor.tokenizer, refs, column, load_pose_metric(), None)
    captions = generate(predictor, split.frames, batch_size, "occlusion: unmasked")  # as evaluation batches them
    baseline, base_xy, base_found = scorer.score(captions)
    base_err = joint_errors(base_xy, refs.xy)
    order = caption_order(refs.captions[0], column, spec)
    rank = np.empty(spec.num_keypoints, int)
    rank[order] = np.arange(spec.num_keypoints)
    half_sides = patch_scale * head_sizes(split)
    results, examples = {}, [_compare(split, example, base_xy, base_found, cell, spec)]
    groups = joint_groups(order, spec)
    masks = {
        name: [
            patch_mask(f.width, f.height, refs.xy[i], refs.found[i], set(group), half_sides[i])
            for i, f in enumerate(split.frames)
        ]
        for name, group in tqdm(groups.items(), desc="occlusion: patches", unit="group", leave=False)
    }
    frames = [masked(f, m) for name in groups for f, m in zip(split.frames, masks[name])]
    n = len(split.frames)
    # Every group's frames in one run of batches: one progress bar, and full batches where groups meet.
    all_captions = generate(predictor, frames, batch_size, f"occlusion: {len(groups)} groups x {n} images")
    for g, (name, group) in enumerate(groups.items()):
        xy, found = scorer.score(all_captions[g * n : (g + 1) * n])[1:]
        err = joint_errors(xy, refs.xy)
        in_group = np.isin(np.arange(spec.num_keypoints), group)[None] & refs.found
        first = rank[list(group)].min()
        sets = {
            "covered": in_group,
            "uncovered": refs.found & ~in_group,
            "uncovered_before": refs.found & ~in_group & (rank < first)[None],
            "uncovered_after": refs.found & ~in_group & (rank > first)[None],
        }
        results[name] = {
            "joints": [spec.captions[j] for j in group],
            "masked_pixels_mean": float(np.mean([m.sum() for m in masks[name]])),
            **{
                key: {"masked": _summary(err, found, sel), "unmasked": _summary(base_err, base_found, sel)}
                for key, sel in sets.items()
            },
        }
        examples.append(_compare(split, example, xy, found, cell, spec, frames[g * n + example]))
    data = {
        "split": split.name,
        "images": len(split.frames),
        "caption_order": [spec.captions[j] for j in order],
        "patch": {"fill": PATCH_FILL, "half_side_px": half_sides, "patch_scale_of_head_size": patch_scale},
        "baseline": baseline,
        "groups": results,
        "example_image": refs.names[example],
    }
    chart = _bar_chart(results, baseline, out / "occlusion.png")
    sheet = out / "occlusion_example.png"
    tiles(examples, ["unmasked", *(f"{name} covered" for name in results)], 5, cell).save(sheet)
    return [chart, sheet, write_json(out / "occlusion.json", data)]


def _compare(
    split: Split,
    i: int,
    xy: np.ndarray,
    found: np.ndarray,
    cell: int,
    spec: KeypointSpec,
    frame: Image.Image | None = None,
) -> Image.Image:
    shown, factor = fit(frame or split.frames[i], cell)
    return draw_comparison(shown, xy[i] * factor, found[i], split.refs.xy[i] * factor, spec=spec)


def _increase(entry: dict) -> float:
    masked, unmasked = entry["masked"]["mean_error_px"], entry["unmasked"]["mean_error_px"]
    return np.nan if masked is None or unmasked is None else masked - unmasked


def _bar_chart(results: dict, baseline: dict[str, float], path: Path) -> Path:
    names = list(results)
    kinds = [
        ("covered", "covered joints"),
        ("uncovered_before", "others, before"),
        ("uncovered_after", "others, after"),
    ]
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.9), 4.5))
    width = 0.8 / len(kinds)
    for k, (key, label) in enumerate(kinds):
        values = [_increase(results[n][key]) for n in names]
        ax.bar(np.arange(len(names)) + (k - 1) * width, values, width, label=label)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set(
        ylabel="mean error increase (px, masked - unmasked)",
        title=f"Occlusion: error added by covering each group (unmasked mae {baseline['mae']:.1f} px)",
    )
    # Beside the axes, not on them: inside, the box hid the tallest bars.
    ax.legend(
        title="'before'/'after': first covered\njoint in caption order", loc="upper left", bbox_to_anchor=(1.01, 1)
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
