"""MPII Human Pose as a Hugging Face dataset of pose captions: the MATLAB reader, a bundled synthetic sample in
the MPII format, the ``datasets`` builder and its command line."""

__version__ = "0.1.0"
