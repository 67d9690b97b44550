"""The blip_pose command line: model card, Hub pushes (model, metric Space) and prediction.

Datasets are built and pushed by ``python -m mpii_pose_dataset``.

    python -m blip_pose card outputs/demo
    python -m blip_pose push outputs/demo --repo-id user/blip-mpii-pose --dry-run
    python -m blip_pose predict --model outputs/demo photos/*.jpg --out preds/
    python -m blip_pose demo outputs/demo            # browser demo (pip install .[demo])
    python -m blip_pose push-demo user/blip-mpii-pose --repo-id user/blip-pose-demo
    python -m blip_pose analyze stages outputs/run1        # also: panels, occlusion, attention MODEL
    python -m blip_pose metric-path                  # evaluate.load(<this path>)

Bad input ends with one ``error:`` line naming the file and the problem (exit status 2), not a traceback; ``predict``
exits with 1 when some images failed (the others are still predicted).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError

#: The run `make demo` trains (training/configs/demo.yaml), served by `demo` when no model is named.
DEMO_RUN = "outputs/demo"


def _parser() -> argparse.ArgumentParser:
    from blip_pose.hub import DEFAULT_METRIC_DIR

    # The console script says its own name; `python -m blip_pose` runs __main__.py.
    script = Path(sys.argv[0]).name
    prog = "python -m blip_pose" if script in ("__main__.py", "-m", "-c", "") else script
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    card = commands.add_parser("card", help="(re)render README.md of a training output folder")
    card.add_argument("output_dir")
    card.add_argument("--repo-id", help="Hub repo the usage snippet loads (default: the folder)")
    card.add_argument("--base-model", help="Hub id fine-tuned from (default: the run's model_name_or_path)")
    card.add_argument("--dataset", help="Hub id of the training data (default: the run's dataset_name)")

    push = commands.add_parser("push", help="upload a training output folder to a Hub model repo")
    push.add_argument("output_dir")
    push.add_argument("--repo-id", required=True, help="<user or org>/<name>")
    push.add_argument("--private", action="store_true")
    push.add_argument("--include-plots", action="store_true", help="also upload the run's *.png plots")
    push.add_argument("--keep-card", action="store_true", help="upload README.md as it is (default: re-render it)")
    push.add_argument(
        "--dry-run", action="store_true", help="name the target repo and list the files (with sizes); no network"
    )

    metric = commands.add_parser("push-metric", help="upload the evaluate metric module as a Gradio Space")
    metric.add_argument(
        "folder",
        nargs="?",
        default=str(DEFAULT_METRIC_DIR),
        help="the metric module folder (default: the one installed with the package)",
    )
    metric.add_argument("--repo-id", required=True)
    metric.add_argument("--private", action="store_true")
    metric.add_argument("--out", help="folder to write the Space into (default: a temporary folder)")
    metric.add_argument("--dry-run", action="store_true", help="write the Space folder and list it; no network")

    commands.add_parser("metric-path", help="print the folder of the evaluate metric module (for evaluate.load)")

    predict = commands.add_parser("predict", help="joints of image files: predictions.jsonl + overlay PNGs")
    predict.add_argument("images", nargs="+", help="image files or folders of images")
    predict.add_argument("--model", required=True, help="Hub id or local model folder")
    predict.add_argument("--out", default="preds", help="output folder (default: %(default)s)")
    predict.add_argument("--batch-size", type=int, default=8)
    predict.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: cuda when available)")
    predict.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="default: float32")
    predict.add_argument(
        "--boxes",
        help="JSON {image path or name: [x0, y0, x1, y1] or {center: [x, y], scale: s}} person boxes (crop models)",
    )
    predict.add_argument(
        "--coco-boxes",
        help="COCO-keypoints JSON: predict every annotated (non-crowd) person of the given images in its bbox",
    )
    predict.add_argument("--no-overlays", action="store_true", help="write only the JSON records")
    predict.add_argument("--no-labels", action="store_true", help="draw the overlays without joint names")

    demo = commands.add_parser("demo", help="serve the browser demo (Gradio) of a model")
    demo.add_argument("model", nargs="?", help=f"Hub id or local model folder (default: {DEMO_RUN}, from `make demo`)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    demo.add_argument("--port", type=int, default=7860)
    demo.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    demo.add_argument("--device", help="e.g. cpu, cuda (default: cuda when available)")
    demo.add_argument("--examples", nargs="*", help="example images (default: the bundled sample's photos)")

    space = commands.add_parser("push-demo", help="write and upload the browser demo as a Gradio Space")
    space.add_argument("model", help="Hub id of a pushed model (the Space downloads it; nothing is copied)")
    space.add_argument("--repo-id", required=True, help="the Space: <user or org>/<name>")
    space.add_argument("--private", action="store_true")
    space.add_argument("--out", help="folder to write the Space into (default: a temporary folder)")
    space.add_argument("--dry-run", action="store_true", help="write the folder and list its files; no network")

    from blip_pose.analysis.commands import add_parser as add_analyze_parser

    add_analyze_parser(commands)
    return parser


def _card(args: argparse.Namespace) -> int:
    from blip_pose.card import write_model_card

    path = write_model_card(args.output_dir, repo_id=args.repo_id, base_model=args.base_model, dataset=args.dataset)
    print(f"wrote {path}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from blip_pose.hub import check_model_folder, describe_upload, model_upload_files, push_model

    if args.dry_run:
        check_model_folder(args.output_dir)
        files = model_upload_files(args.output_dir, include_plots=args.include_plots)
        print(describe_upload(args.output_dir, files, args.repo_id, "model"))
        return 0
    url = push_model(
        args.output_dir,
        args.repo_id,
        private=args.private,
        include_plots=args.include_plots,
        render_card=not args.keep_card,
    )
    print(f"pushed {args.output_dir} to {url}")
    return 0


def _push_metric(args: argparse.Namespace) -> int:
    import tempfile

    from blip_pose.hub import describe_upload, push_metric, write_metric_space

    if not args.dry_run:
        print(f"pushed {args.folder} to {push_metric(args.repo_id, args.folder, private=args.private)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or f"{tmp}/space"
        files = write_metric_space(out, args.folder)
        print(f"wrote {out}\n" + describe_upload(out, files, args.repo_id, "space"))
    return 0


def _metric_path(args: argparse.Namespace) -> int:
    from blip_pose import metric_path

    print(metric_path())
    return 0


def _predict(args: argparse.Namespace) -> int:
    from blip_pose.checkpoint import local_or_hub

    local_or_hub(args.model)  # a mistyped path fails before torch is even imported
    from blip_pose.predict_files import expand_inputs, predict_files, read_boxes, read_coco_boxes
    from blip_pose.predictor import PosePredictor

    if args.boxes and args.coco_boxes:
        raise ValueError("give --boxes or --coco-boxes, not both")
    paths = expand_inputs(args.images)
    boxes = read_boxes(args.boxes, paths) if args.boxes else None
    extra = None
    if args.coco_boxes:
        paths, boxes, extra = read_coco_boxes(args.coco_boxes, paths)
    predictor = PosePredictor.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    summary = predict_files(
        predictor,
        paths,
        args.out,
        batch_size=args.batch_size,
        person_boxes=boxes,
        record_extra=extra,
        overlays=not args.no_overlays,
        names=not args.no_labels,
    )
    print(
        f"{summary.line()}; wrote {summary.outputs[0]}"
        + (f" and {len(summary.outputs) - 1} overlay(s)" if len(summary.outputs) > 1 else ""),
        file=sys.stderr,
    )
    return 1 if summary.failed else 0


def _demo(args: argparse.Namespace) -> int:
    if args.model is None and not Path(DEMO_RUN).is_dir():
        raise FileNotFoundError(f"no MODEL given and no {DEMO_RUN}: run `make demo` first, or pass a model")
    from blip_pose.checkpoint import local_or_hub

    local_or_hub(args.model or DEMO_RUN)  # a mistyped path fails before gradio and torch are imported
    try:
        from blip_pose.demo_app import build_demo, launch
    except ModuleNotFoundError as err:  # gradio comes with the `demo` extra only
        extra = "pip install 'blip-pose[demo]'"
        raise ValueError(f"the browser demo needs {err.name}, not installed here: {extra}") from None
    from blip_pose.predictor import PosePredictor

    model = args.model or DEMO_RUN
    predictor = PosePredictor.from_pretrained(model, device=args.device)
    launch(
        build_demo(predictor, predictor.source, args.examples),
        server_name=args.host,
        server_port=args.port,
        share=args.share,
    )
    return 0


def _push_demo(args: argparse.Namespace) -> int:
    import tempfile

    from blip_pose.hub import describe_upload
    from blip_pose.space import push_space, write_space

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or f"{tmp}/space"
        files = write_space(args.model, args.repo_id, out)
        if args.dry_run:
            print(f"wrote {out}\n" + describe_upload(out, files, args.repo_id, "space"))
            return 0
        print(f"pushed the demo of {args.model} to {push_space(out, args.repo_id, private=args.private)}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from blip_pose.analysis.commands import run

    paths = run(args)
    print(f"wrote {len(paths)} files to {paths[0].parent}: " + ", ".join(p.name for p in paths))
    return 0


COMMANDS = {
    "card": _card,
    "push": _push,
    "push-metric": _push_metric,
    "metric-path": _metric_path,
    "predict": _predict,
    "demo": _demo,
    "push-demo": _push_demo,
    "analyze": _analyze,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except (OSError, ValueError, NotImplementedError, HfHubHTTPError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
