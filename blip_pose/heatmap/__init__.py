"""A heatmap baseline on the same data: transformers' ``VitPoseForPoseEstimation`` trained with mmpose's targets and
loss (``targets.py``), a ``Trainer`` subclass with decoding by transformers' own post-processing (``trainer.py``) and
an offline random-init preset (``tiny.py``)."""
