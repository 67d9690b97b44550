"""``python -m blip_pose analyze stages|panels|occlusion|attention|compare``: argument namespaces -> files written."""

from __future__ import annotations

import argparse
from pathlib import Path

# The parser is built for every ``python -m blip_pose`` call: the analysis modules (torch, datasets) load only when
# an analysis runs, through ``common`` below.


def _dataset(args: argparse.Namespace, model: str) -> tuple[str, str | None]:
    from blip_pose.analysis import common

    if args.dataset:
        return args.dataset, args.config
    name, config = common.run_dataset(model)
    return name, args.config or config


#: Occlusion generates (groups + 1) captions per image: over a whole split (MPII: 1,704 images) that is over 15
#: minutes on 2 cores, so by default it covers this many images (``--max-images 0``: all).
OCCLUSION_IMAGES = 200


def _predictor(args: argparse.Namespace):
    from blip_pose.predictor import PosePredictor

    return PosePredictor.from_pretrained(args.model, device=args.device)


def stages(args: argparse.Namespace) -> list[Path]:
    from blip_pose.analysis import common
    from blip_pose.analysis.stages import checkpoints, stages
    from blip_pose.run_record import caption_column_name, load_run_config

    if not Path(args.run_dir).is_dir():
        raise FileNotFoundError(f"{args.run_dir}: no such run folder")
    dataset, config = _dataset(args, args.run_dir)
    column = caption_column_name(load_run_config(args.run_dir))
    checkpoints(args.run_dir)  # no checkpoints: say so before loading data
    splits = [common.load_split(dataset, config, args.split, column, args.images)]
    if args.train_images:
        splits.append(common.load_split(dataset, config, args.train_split, column, args.train_images))
    out = common.output_dir(args.out, args.run_dir, "stages")
    return stages(
        args.run_dir, splits, out, max_checkpoints=args.checkpoints, batch_size=args.batch_size, device=args.device
    )


def panels(args: argparse.Namespace) -> list[Path]:
    from blip_pose.analysis import common
    from blip_pose.analysis.panels import folder_panels, split_panels
    from blip_pose.predict_files import expand_inputs

    predictor = _predictor(args)
    out = common.output_dir(args.out, args.model, "panels")
    if args.inputs:
        paths = expand_inputs(args.inputs)[: args.images]
        return folder_panels(predictor, paths, out, args.batch_size)
    split = common.load_split(*_dataset(args, args.model), args.split, predictor.caption_column, args.images)
    return split_panels(predictor, split, out, args.batch_size)


def occlusion(args: argparse.Namespace) -> list[Path]:
    from blip_pose.analysis import common
    from blip_pose.analysis.occlusion import occlusion

    predictor = _predictor(args)
    limit = args.images or None  # 0: the whole split
    split = common.load_split(*_dataset(args, args.model), args.split, predictor.caption_column, limit)
    out = common.output_dir(args.out, args.model, "occlusion")
    return occlusion(predictor, split, out, patch_scale=args.patch_scale, batch_size=args.batch_size)


def attention(args: argparse.Namespace) -> list[Path]:
    from blip_pose.analysis import common
    from blip_pose.analysis.attention import attention_figures
    from blip_pose.predictor import load_image

    predictor = _predictor(args)
    out = common.output_dir(args.out, args.model, "attention")
    if args.image:
        image, name = load_image(args.image)
        frames = [predictor.transform_for(image.width, image.height).apply(image)]
        names = [name or str(args.image)]
    else:
        split = common.load_split(*_dataset(args, args.model), args.split, predictor.caption_column, args.images)
        frames, names = split.frames, split.refs.names
    return attention_figures(
        predictor, frames, names, out, layer=args.layer, head=args.head, batch_size=args.batch_size
    )


def _head(value: str) -> int | str:
    if value == "mean" or value.isdigit():
        return value if value == "mean" else int(value)
    raise argparse.ArgumentTypeError(f"expected a 1-based head number or 'mean', got {value!r}")


def compare(args: argparse.Namespace) -> list[Path]:
    from blip_pose.analysis import common
    from blip_pose.analysis.compare import compare

    return compare(args.runs, common.output_dir(args.out, args.runs[0], "compare"))


ANALYSES = {"stages": stages, "panels": panels, "occlusion": occlusion, "attention": attention, "compare": compare}


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``analyze`` command and its analyses."""
    analyze = commands.add_parser("analyze", help="the method's figures: PNGs plus a JSON of every number drawn")
    analyses = analyze.add_subparsers(dest="analysis", required=True)
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--out", help="output folder (default: <run folder>/analysis/<analysis>)")
    shared.add_argument("--batch-size", type=int, default=8, help="images generated at once (default: %(default)s)")
    shared.add_argument("--device", help="e.g. cpu, cuda (default: cuda when available)")
    shared.add_argument("--dataset", help="built dataset folder or Hub id (default: the run's own dataset)")
    shared.add_argument("--config", help="dataset config (default: the run's)")
    shared.add_argument("--split", default="validation", help="default: %(default)s")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("model", help="run folder, checkpoint or Hub id")

    stages = analyses.add_parser("stages", parents=[shared], help="the same images under each checkpoint of a run")
    stages.add_argument("run_dir", help="a training output folder with checkpoint-<step> folders")
    stages.add_argument("--images", type=int, default=4, help="images of --split (default: %(default)s)")
    stages.add_argument("--train-images", type=int, default=2, help="images of --train-split (default: %(default)s)")
    stages.add_argument("--train-split", default="train")
    stages.add_argument("--checkpoints", type=int, help="keep this many, evenly spaced (default: all)")

    panels = analyses.add_parser("panels", parents=[shared, model], help="input | ground truth | prediction")
    panels.add_argument("--images", type=int, default=8, help="how many (default: %(default)s)")
    panels.add_argument("--inputs", nargs="+", help="image files or folders instead of a split: input | prediction")

    occlusion = analyses.add_parser("occlusion", parents=[shared, model], help="cover joint groups, measure errors")
    occlusion.add_argument(
        "--max-images",
        "--images",
        dest="images",
        type=int,
        default=OCCLUSION_IMAGES,
        help="first N images of the split (default: %(default)s; 0: all)",
    )
    occlusion.add_argument("--patch-scale", type=float, default=1.0, help="patch half-side in head sizes")

    attention = analyses.add_parser("attention", parents=[shared, model], help="decoder attention while writing")
    attention.add_argument("--image", help="one image file instead of a split")
    attention.add_argument("--images", type=int, help="first N images of the split (default: all)")
    attention.add_argument("--layer", type=int, help="1-based decoder layer (default: the last)")
    attention.add_argument(
        "--head",
        type=_head,
        help="1-based head, or 'mean' (default: 8, the method's, when the model has 8 heads, else mean)",
    )

    compare = analyses.add_parser("compare", help="runs of any model family side by side: one table and one figure")
    compare.add_argument("runs", nargs="+", help="finished run folders")
    compare.add_argument("--out", help="output folder (default: <first run>/analysis/compare)")


def run(args: argparse.Namespace) -> list[Path]:
    return ANALYSES[args.analysis](args)
