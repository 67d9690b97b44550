"""``python -m coco_pose_dataset build``: a COCO-keypoints file (or a synthetic one) as a pose-caption dataset folder.

Its own command beside ``python -m mpii_pose_dataset`` (the source packages never import each other); both build
through the core (:func:`pose_dataset.export.build`), so the folder, card and push are the same. Bad input ends
with one ``error:`` line naming the file and the problem (exit status 2), not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from datasets.exceptions import DatasetGenerationError

from coco_pose_dataset.source_format import COCO
from pose_dataset.signals import Interrupted, interruptible

#: Config fields the command line can override, with their types.
OVERRIDES = {"image_size": int, "seed": int, "validation_ratio": float, "crop_padding": float, "jpeg_quality": int}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coco_pose_dataset", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the dataset folder (parquet + dataset card)")
    COCO.add_arguments(build)
    build.add_argument("--output", default="coco_pose_caption", help="folder to write (default: %(default)s)")
    build.add_argument("--num-proc", type=int, default=min(os.cpu_count() or 1, 8), help="image workers")
    build.add_argument("--cache-dir", help="datasets cache")
    build.add_argument("--overwrite", action="store_true", help="replace --output even when it is not a dataset")
    for field, kind in OVERRIDES.items():
        build.add_argument(f"--{field.replace('_', '-')}", type=kind, help=f"override the config's {field}")
    build.add_argument("--simple-joints", help="comma-separated caption tokens of the simple columns")
    push = commands.add_parser("push", help="upload a built folder to the Hugging Face Hub")
    push.add_argument("folder")
    push.add_argument("--repo-id", required=True, help="<user or org>/<name>")
    push.add_argument("--private", action="store_true")
    return parser


def _sources(args: argparse.Namespace, scratch: str) -> tuple[Path, str | None, str]:
    """(annotation file, validation file or None, images folder) of the command line."""
    if args.synthetic is not None:
        from coco_pose_dataset.synthetic import write_synthetic_coco

        json_path = write_synthetic_coco(scratch, args.synthetic, args.seed or 0, kind=args.kind)
        return json_path, None, str(Path(scratch) / "images")
    files = list(args.coco_json)
    if len(files) > 2 or (len(files) == 2 and args.val_json):
        raise ValueError("--coco-json: give one file, or two (train, validation), or one with --val-json")
    if not args.images:
        raise ValueError("--images: the folder of the file's images is required with --coco-json")
    return Path(files[0]).expanduser(), files[1] if len(files) == 2 else args.val_json, args.images


def format_report(report: dict) -> str:
    """Examples per split and skipped persons per reason, for the terminal."""
    name = report["config"]
    lines = [f"[{name}] examples: " + ", ".join(f"{s} {n}" for s, n in report["examples"].items())]
    if report["skipped"]:
        counts = ", ".join(f"{reason} {n}" for reason, n in report["skipped"].items())
        lines.append(f"[{name}] skipped {sum(report['skipped'].values())} person(s): {counts}")
    return "\n".join(lines)


def _build(args: argparse.Namespace) -> None:
    from pose_dataset.export import build

    overrides = {f: getattr(args, f) for f in OVERRIDES if getattr(args, f) is not None}
    if args.simple_joints:
        overrides["simple_joints"] = tuple(j.strip() for j in args.simple_joints.split(",") if j.strip())
    if args.category is not None:
        overrides["category"] = args.category
    with tempfile.TemporaryDirectory(prefix="synthetic-coco-") as scratch:
        json_path, val_json, images = _sources(args, scratch)
        overrides.update(images_dir=str(Path(images).expanduser()), val_json=val_json)
        reports = build(
            args.output,
            COCO,
            data_dir=json_path,
            num_proc=args.num_proc,
            cache_dir=args.cache_dir,
            overwrite=args.overwrite,
            overrides=overrides,
        )
    for report in reports.values():
        print(format_report(report))
    print(f"wrote {args.output} (load it with datasets.load_dataset({str(args.output)!r}))")


def _push(args: argparse.Namespace) -> None:
    from pose_dataset.push import push

    print(f"pushed {args.folder} to {args.repo_id}: {push(args.folder, args.repo_id, private=args.private)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with interruptible():
            {"build": _build, "push": _push}[args.command](args)
    except Interrupted as stop:
        print(f"error: {args.command} interrupted by {stop}", file=sys.stderr)
        return 128 + stop.signum
    except DatasetGenerationError as err:
        print(f"error: {err.__cause__ or err}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
