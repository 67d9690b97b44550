"""Fine-tuning BLIP on pose captions: the library under ``training/run.py``.

``arguments`` (dataclasses + config parsing), ``data`` (loading and checks), ``collator``, ``trainer``
(``Seq2SeqTrainer`` with BLIP's traps handled), ``evaluation`` (``compute_metrics``), ``callbacks`` (run records),
``modeling`` (checkpoints and presets), ``plots``. Importing this package is cheap; each module loads torch or
transformers itself.
"""
