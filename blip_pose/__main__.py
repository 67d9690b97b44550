"""Entry point of ``python -m blip_pose`` and the ``blip-pose`` script."""

import sys

from blip_pose.cli import main

if __name__ == "__main__":
    sys.exit(main())
