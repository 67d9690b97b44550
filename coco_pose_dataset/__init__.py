"""COCO-keypoints files (COCO's people or your own keypoint set) as a source of pose-caption datasets.

Arrows: this package imports ``blip_pose`` (the keypoint sets), never the other way round.
"""
