"""``python -m mpii_pose_dataset {build,build-standard,standard-fixtures,inspect,push}``: the dataset's command line.

``build --synthetic N`` generates N procedural frames (:mod:`mpii_pose_dataset.synthetic`) into a temporary
folder and builds them like any MPII release. ``build-standard`` builds MPII's standard protocol (its own source
format, :mod:`mpii_pose_dataset.standard_source`), from mmpose's files or their download; ``standard-fixtures``
writes those files from the bundled sample, so it runs offline.

Bad input ends with one ``error:`` line naming the file and the problem (exit status 2), not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from datasets.exceptions import DatasetGenerationError

from blip_pose.dataset_source import check_synthetic_frames
from mpii_pose_dataset.examples import METHOD_SIMPLE_JOINTS
from mpii_pose_dataset.sample import SAMPLE_DIR
from mpii_pose_dataset.source_format import MPII
from mpii_pose_dataset.standard_source import MPII_STANDARD
from pose_dataset.card import SPLITS
from pose_dataset.signals import Interrupted, interruptible

CONFIG_NAMES = list(MPII.configs)
#: Config fields the command line can override, with their types.
OVERRIDES = {
    "image_size": int,
    "seed": int,
    "validation_ratio": float,
    "crop_padding": float,
    "jpeg_quality": int,
    "split_by": str,
}
#: The overrides ``build-standard`` takes (its split is given, its crop is the person's).
STANDARD_OVERRIDES = ("image_size", "crop_padding", "jpeg_quality")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpii_pose_dataset", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the dataset folder (parquet + dataset card)")
    MPII.add_arguments(build)  # where the data comes from
    build.add_argument("--output", default="mpii_pose_caption", help="folder to write (default: %(default)s)")
    build.add_argument(
        "--config",
        action="append",
        choices=[*CONFIG_NAMES, "all"],
        help="config(s) to build; repeat or 'all' (default: paper)",
    )
    build.add_argument(
        "--num-proc",
        type=int,
        default=min(os.cpu_count() or 1, 8),
        help="worker processes decoding images (default: %(default)s)",
    )
    build.add_argument("--cache-dir", help="datasets cache (downloads land here with --download)")
    build.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --output even when it is a non-empty folder this project did not write, and drop its configs "
        "built from another source (annotation file)",
    )
    for field, kind in OVERRIDES.items():
        build.add_argument(f"--{field.replace('_', '-')}", type=kind, help=f"override the config's {field}")
    build.add_argument(
        "--simple-joints",
        help="comma-separated caption names for simple_text (default upper_neck); the method's notebook used "
        + ",".join(METHOD_SIMPLE_JOINTS),
    )

    standard = commands.add_parser("build-standard", help="build MPII's standard train/validation split")
    MPII_STANDARD.add_arguments(standard)
    standard.add_argument("--output", default="mpii_standard", help="folder to write (default: %(default)s)")
    standard.add_argument("--num-proc", type=int, default=min(os.cpu_count() or 1, 8), help="image workers")
    standard.add_argument("--cache-dir", help="datasets cache (downloads land here with --download)")
    standard.add_argument("--overwrite", action="store_true", help="replace --output even when it is not a dataset")
    for field in STANDARD_OVERRIDES:
        standard.add_argument(f"--{field.replace('_', '-')}", type=OVERRIDES[field], help=f"override {field}")
    standard.add_argument("--simple-joints", help="comma-separated caption names for simple_text")
    fixtures = commands.add_parser(
        "standard-fixtures", help="the bundled sample as mpii_train.json, mpii_val.json, mpii_gt_val.mat + images/"
    )
    fixtures.add_argument("out", help="folder to write (annotations/ and images/)")

    inspect = commands.add_parser("inspect", help="counts per split and skip reason; overlay PNGs")
    inspect.add_argument("folder")
    inspect.add_argument("--overlays", type=int, default=0, help="number of overlay PNGs to write")
    inspect.add_argument("--out", default="overlays", help="folder for the overlays (default: %(default)s)")
    inspect.add_argument("--config", help="config to draw (default: the folder's default config)")
    inspect.add_argument("--split", default="validation", choices=SPLITS)
    inspect.add_argument("--no-labels", action="store_true", help="draw the overlays without joint names")

    push = commands.add_parser("push", help="upload a built folder to the Hugging Face Hub")
    push.add_argument("folder")
    push.add_argument("--repo-id", required=True, help="<user or org>/<name>")
    push.add_argument("--private", action="store_true")
    return parser


def _build(args: argparse.Namespace) -> None:
    from mpii_pose_dataset.export import build, format_report
    from mpii_pose_dataset.synthetic import generate

    if args.synthetic is not None:
        check_synthetic_frames(args.synthetic, "--synthetic")  # before a frame is drawn
    configs = args.config or ["video_split" if args.synthetic is not None else "paper"]
    if "all" in configs:
        configs = CONFIG_NAMES
    overrides = {f: getattr(args, f) for f in OVERRIDES if getattr(args, f) is not None}
    overrides.update(_simple_joints(args))
    with tempfile.TemporaryDirectory(prefix="synthetic-mpii-") as source:
        data_dir: str | Path | None
        if args.synthetic is not None:
            data_dir = generate(source, args.synthetic, overrides.pop("seed", 0)).parent
        else:
            data_dir = SAMPLE_DIR if args.sample else None if args.download else args.mpii_dir
        reports = build(
            args.output,
            data_dir=data_dir,
            configs=dict.fromkeys(configs),
            num_proc=args.num_proc,
            cache_dir=args.cache_dir,
            overwrite=args.overwrite,
            **overrides,
        )
    for report in reports.values():
        print(format_report(report))
    print(f"wrote {args.output} (load it with datasets.load_dataset({str(args.output)!r}))")


def _simple_joints(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    if not args.simple_joints:
        return {}
    return {"simple_joints": tuple(j.strip() for j in args.simple_joints.split(",") if j.strip())}


def _build_standard(args: argparse.Namespace) -> None:
    from mpii_pose_dataset.export import format_report
    from pose_dataset.export import build

    overrides = {f: getattr(args, f) for f in STANDARD_OVERRIDES if getattr(args, f) is not None}
    overrides.update(_simple_joints(args), images_dir=args.images)
    reports = build(
        args.output,
        MPII_STANDARD,
        data_dir=None if args.download else args.annotations,
        num_proc=args.num_proc,
        cache_dir=args.cache_dir,
        overwrite=args.overwrite,
        overrides=overrides,
    )
    for report in reports.values():
        print(format_report(report))
    print(f"wrote {args.output} (load it with datasets.load_dataset({str(args.output)!r}))")


def _standard_fixtures(args: argparse.Namespace) -> None:
    from mpii_pose_dataset.standard_fixtures import write_standard_fixtures

    annotations = write_standard_fixtures(args.out)
    print(f"wrote {annotations} and {Path(args.out) / 'images'} (the bundled sample in the standard files' layout)")


def _inspect(args: argparse.Namespace) -> None:
    from mpii_pose_dataset.inspection import summary, write_overlays

    print(summary(args.folder, args.config))  # an unknown --config is an error even without --overlays
    if args.overlays > 0:
        paths = write_overlays(args.folder, args.out, args.overlays, args.config, args.split, names=not args.no_labels)
        print(f"wrote {len(paths)} overlay(s) to {args.out}")


def _push(args: argparse.Namespace) -> None:
    from pose_dataset.push import push

    url = push(args.folder, args.repo_id, private=args.private)
    print(f"pushed {args.folder} to {args.repo_id}: {url}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with interruptible():
            verbs = {"build": _build, "build-standard": _build_standard, "standard-fixtures": _standard_fixtures}
            {**verbs, "inspect": _inspect, "push": _push}[args.command](args)
    except Interrupted as stop:
        unchanged = f"; {args.output} is unchanged" if args.command.startswith("build") else ""
        print(f"error: {args.command} interrupted by {stop}{unchanged}", file=sys.stderr)
        return 128 + stop.signum
    except DatasetGenerationError as err:  # datasets wraps errors raised while writing examples
        print(f"error: {err.__cause__ or err}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:  # FileNotFoundError, PermissionError, MPIIFormatError, bad config values
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
