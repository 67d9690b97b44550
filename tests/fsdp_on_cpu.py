"""Run a script as ``accelerate launch --config_file training/accelerate/fsdp.yaml`` runs it on GPUs, on CPU.

accelerate 1.16 turns ``ACCELERATE_USE_FSDP`` into ``DistributedType.FSDP`` only for accelerator backends
(``AcceleratorState.__init__`` checks MULTI_GPU, MULTI_XPU, ...): on CPU the same launch silently runs plain DDP
(``DistributedType.MULTI_CPU``). torch 2.13's FSDP2 (``fully_shard``) itself runs over gloo, so this wrapper
switches the state to FSDP with the plugin the launcher's environment describes, then runs the script: the
Trainer, accelerate's ``fsdp2_prepare_model``, the sharded training, the full-state-dict save and our evaluation
all run as on GPUs. Usage: ``accelerate launch --config_file fsdp.yaml --mixed_precision no fsdp_on_cpu.py
SCRIPT ARGS...``.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

_init = AcceleratorState.__init__


def _fsdp_on_cpu(self: AcceleratorState, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    if self.distributed_type == DistributedType.MULTI_CPU and os.environ.get("ACCELERATE_USE_FSDP") == "true":
        if getattr(self, "fsdp_plugin", None) is None:
            self.fsdp_plugin = kwargs.get("fsdp_plugin") or FullyShardedDataParallelPlugin()
        self.distributed_type = DistributedType.FSDP
        PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        print(f"fsdp_on_cpu: FSDP{self.fsdp_plugin.fsdp_version} on process {self.process_index}", flush=True)


if __name__ == "__main__":
    AcceleratorState.__init__ = _fsdp_on_cpu  # type: ignore[method-assign]
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
