"""`emergent` with accelerate's FSDP applied to CPU processes — a test entry point, not a product one.

accelerate turns FSDP on only for GPU-like devices and silently falls back to DDP on CPU, although
FSDP2 (`fully_shard`) itself runs on CPU with gloo. This entry flips accelerate's state from
MULTI_CPU to FSDP when an FSDP plugin is configured, so the trainer's FSDP code paths (sharded
parameters, gathered adapter saves, sharded optimizer state in checkpoints) run in CI without a GPU.
Run it like the CLI: `torchrun --nproc_per_node 2 fsdp_on_cpu.py train CONFIG ...` with the
ACCELERATE_USE_FSDP / FSDP_* environment that `accelerate launch --config_file fsdp.yaml` sets.
"""

from __future__ import annotations

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType

_init = AcceleratorState.__init__


def _init_with_fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs) -> None:
    _init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        if self._mixed_precision != "no":
            fsdp_plugin.set_mixed_precision(self._mixed_precision)
        self.distributed_type = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin
        # As accelerate does: later AcceleratorState() calls copy the distributed type from PartialState.
        PartialState._shared_state["distributed_type"] = self.distributed_type


AcceleratorState.__init__ = _init_with_fsdp_on_cpu

if __name__ == "__main__":
    from emergent.cli import main

    main()
