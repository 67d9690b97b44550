"""The words of an MPII build's dataset card: its title, license and tags, and the body (configs, columns, joints,
splits, terms). The YAML that makes the folder loadable is the build core's (:mod:`pose_dataset.card`).
"""

from __future__ import annotations

from blip_pose.dataset_source import SYNTHETIC_KINDS
from blip_pose.geometry import MATLAB_ORIGIN
from blip_pose.keypoints.mpii import MPII16, PAPER_TABLE_SWAPS
from mpii_pose_dataset.builder import CITATION, CONFIG_DESCRIPTIONS, HOMEPAGE, MpiiPoseCaption
from mpii_pose_dataset.examples import METHOD_SIMPLE_JOINTS, SELECTION_RULES, SKIP_REASONS
from mpii_pose_dataset.features import COLUMN_DOCS
from pose_dataset.card import default_config
from pose_dataset.registry import CardText

#: License of generated data (the project's own, as in pyproject.toml).
GENERATED_LICENSE = "apache-2.0"
_TAGS = ["pose-estimation", "human-pose-estimation", "keypoints", "image-captioning"]


def synthetic_source(reports: dict[str, dict]) -> dict | None:
    """The folder's source when it is generated (bundled sample or procedural people), else None.

    A folder holds one source (:func:`pose_dataset.export.check_same_source`), so any report tells.
    """
    sources = [r.get("source") or {} for r in reports.values()]
    return sources[0] if all(src.get("kind") in SYNTHETIC_KINDS for src in sources) else None


def _origin(report: dict) -> str:
    """Where a config's images came from, in the card's words."""
    source = report.get("source") or {}
    if source.get("kind") == "synthetic":
        return (
            f"{report['images']} procedural frames drawn by `{source.get('generator')}` with seed {source.get('seed')}"
        )
    if source.get("kind") == "sample":
        return f"the {report['images']} frames of the bundled synthetic sample of `mpii_pose_dataset`"
    return f"{report['images']} images of `{report['annotation_file']}`"


def card_metadata(reports: dict[str, dict]) -> dict:
    """``DatasetCardData`` fields: title, license and tags (generated data is the project's; MPII's is not)."""
    if synthetic_source(reports):
        return dict(
            pretty_name="Synthetic pose captions (procedural stick figures)",
            license=GENERATED_LICENSE,
            task_categories=["image-to-text"],
            tags=[*_TAGS, "synthetic"],
        )
    return dict(
        pretty_name="MPII Human Pose captions",
        license="other",
        license_name="mpii-human-pose",
        license_link=HOMEPAGE,
        task_categories=["image-to-text"],
        tags=[*_TAGS, "mpii"],
        source_datasets=["MPII Human Pose (andriluka14cvpr)"],
    )


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _config_section(name: str, reports: dict[str, dict]) -> str:
    report = reports[name]
    recipe = ", ".join(f"`{k}={v}`" for k, v in report["recipe"].items())
    examples = ", ".join(f"{split}: {n}" for split, n in report["examples"].items())
    skipped = report["skipped"]
    skip_rows = [[f"`{reason}`", n, SKIP_REASONS.get(reason, "")] for reason, n in skipped.items()]
    lines = [
        f"### `{name}`"
        + (" (default)" if name == default_config(reports, MpiiPoseCaption.DEFAULT_CONFIG_NAME) else ""),
        "",
        CONFIG_DESCRIPTIONS.get(name, ""),
        "",
        f"Examples: {examples} (from {_origin(report)}).",
        "",
        f"Recipe: {recipe}.",
        "",
        f"Persons kept: {SELECTION_RULES.get(report.get('selection', ''), 'not recorded')}.",
        "",
        f"Joints whose empty `is_visible` was read as visible (1), as the method did: "
        f"{report.get('visibility_defaulted', 'not recorded')}.",
        "",
        f"Skipped {sum(skipped.values())} candidate {report['unit']}s:" if skipped else "Nothing was skipped.",
    ]
    if skipped:
        lines += ["", _table(["reason", report["unit"] + "s", "meaning"], skip_rows)]
    return "\n".join(lines)


_MPII_TEXT = (
    "MPII Human Pose captions",
    f"Built from the [MPII Human Pose]({HOMEPAGE}) release by the `mpii_pose_dataset` package of the blip-pose "
    "project.",
    "MPII images are frames of YouTube videos, often several per video. `paper` splits images at random (as the "
    "method did), so near-duplicate frames can sit on both sides; `video_split` keeps all frames of a video on one "
    "side and is the honest measure of generalisation. MPII's own test images (`img_train = 0`) have no published "
    "joints and never become examples. An image file listed twice in the annotation file is used once "
    "(`duplicate_image`).",
    "MPII Human Pose is made available by its authors for research purposes; commercial use is not allowed because "
    "the authors do not hold the copyright of the images (frames of YouTube videos). The annotations and code are "
    "distributed by MPII under the Simplified BSD license. This derived dataset inherits those terms: see "
    f"{HOMEPAGE} before using or redistributing it.\n\n## Citation\n\n```bibtex\n{CITATION}\n```",
)
_SYNTHETIC_TEXT = (
    "Synthetic pose captions (procedural stick figures)",
    "**Synthetic data, not MPII photos**: procedural stick-figure people drawn by the `mpii_pose_dataset` package "
    "of the blip-pose project (see each config below for the generator, seed and frame count) and written in the "
    "MPII annotation format, so the same builder reads them. Only MPII's joint ids and caption layout are used.",
    "Every generated video draws its own people; `video_split` keeps all frames of a video (so every figure) on "
    "one side.",
    f"Generated by the blip-pose project; no MPII image or annotation is included, so MPII's terms do not apply. "
    f"Released under the project's license ({GENERATED_LICENSE}).",
)


def render_body(reports: dict[str, dict]) -> str:
    """The card's markdown body (everything after the YAML header)."""
    joint_rows = [[i, name, f"`{caption}`"] for i, (name, caption) in enumerate(zip(MPII16.names, MPII16.captions))]
    swaps = " and ".join(f"{a}↔{b}" for a, b in PAPER_TABLE_SWAPS)
    column_rows = [[f"`{c}`", doc] for c, doc in COLUMN_DOCS.items()]
    configs = "\n\n".join(_config_section(name, reports) for name in reports)
    synthetic = synthetic_source(reports)
    title, origin, splits, terms = _SYNTHETIC_TEXT if synthetic else _MPII_TEXT
    return f"""
# {title}

Human pose estimation as image captioning: every example pairs an image with its 16 MPII joints written as text
(`rankl:123,356 rknee:130,301 … lwri:220,200`), the training data of a BLIP model that writes poses as captions.
{origin}

```python
from datasets import load_dataset
ds = load_dataset("path/or/hub-id/of/this/folder")                # the `paper` config
ds = load_dataset("path/or/hub-id/of/this/folder", "video_split") # another config, when built
```

This folder is plain parquet plus this card: `datasets` >= 4 no longer runs loading scripts, so the builder
(`mpii_pose_dataset.builder.MpiiPoseCaption`, a `datasets.GeneratorBasedBuilder`) runs once at build time
(`python -m mpii_pose_dataset build …`) and `load_dataset` reads its output natively, locally or from the Hub.

## Configs

{configs}

A candidate is an image for the resize configs and a person for `person_crop` (`no_person` counts images).
Image files that are grayscale, CMYK, RGBA or palette are converted to RGB; none of the skips ever turns into a
guessed label.

## Columns

Coordinates are in the processed (stored) image unless stated otherwise; a processed point maps back to the
original image with `original = processed / (scale_x, scale_y) + crop_box[:2]`.

Coordinates are 0-based pixels: the top-left pixel is (0, 0). MPII's annotation file is MATLAB 1-based; every
coordinate read from it (joints, head rectangle, `objpos`) has {MATLAB_ORIGIN:g} subtracted, as mmpose's MPII loader
does, so add {MATLAB_ORIGIN:g} to compare with the raw file. A joint is inside a `W`×`H` image when `0 <= x < W`
and `0 <= y < H` (`x = W` is one column past the last pixel); joints outside are skipped, never clipped. A model
trained on this dataset predicts in the same 0-based frame (`blip_pose.PosePredictor`).

Simple captions (`simple_text` and its variants) hold `{", ".join(MPII16.default_simple_joints)}` by default, the
one joint of the method's write-up. The method's notebook used five joints; build them with
`--simple-joints {",".join(METHOD_SIMPLE_JOINTS)}` (recorded as `simple_joints` in each config's recipe).

{_table(["column", "meaning"], column_rows)}

## Joints

Official MPII joint ids, in the order of `joint_points` and of every caption. The method's write-up prints a
joint table with ids {swaps} swapped; this dataset follows the ids of the MPII annotation file.

{_table(["id", "joint", "caption name"], joint_rows)}

## Splits

{splits}

## License

{terms}
"""


def card_text(reports: dict[str, dict]) -> CardText:
    """The card's metadata and body for the MPII-format configs in ``reports``."""
    return CardText(card_metadata(reports), render_body(reports))
