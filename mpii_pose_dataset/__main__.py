"""Entry point of ``python -m mpii_pose_dataset`` and the ``mpii-pose-dataset`` script."""

import sys

from mpii_pose_dataset.cli import main

if __name__ == "__main__":
    sys.exit(main())
