"""``python -m blip_pose.pretrained RUN_DIR NAME``: ship a finished run as ``pretrained:NAME`` (see the package)."""

import argparse
import sys

from blip_pose.pretrained.ship import ship

parser = argparse.ArgumentParser(prog="python -m blip_pose.pretrained", description=__doc__)
parser.add_argument("run_dir", help="output_dir of a finished training/run.py run")
parser.add_argument("name", help="shipped name, loaded as pretrained:NAME")
parser.add_argument("--command", required=True, help="the command that made the run (recorded in the card)")
parser.add_argument("--note", help="free text for the card's provenance, e.g. the machine and its load")
args = parser.parse_args()
try:
    print(ship(args.run_dir, args.name, args.command, args.note))
except FileNotFoundError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)
