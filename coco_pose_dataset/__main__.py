"""Entry point of ``python -m coco_pose_dataset``."""

import sys

from coco_pose_dataset.cli import main

if __name__ == "__main__":
    sys.exit(main())
