"""Distributed training: where the trainer's step and state handling differ between engines (one process, DDP, FSDP, DeepSpeed).

accelerate hides most of the difference, not all of it. DeepSpeed accumulates micro-batches and
steps (clip + update) inside its engine, keeps fp32 master copies of the trainable weights inside
its optimizer, and partitions optimizer state its own way, so it checkpoints through its own
`save_checkpoint`. Everywhere else torch's distributed state-dict API reads and writes whole tensors
whether the model is plain, DDP-wrapped or FSDP-sharded, gathering only the trainable (LoRA) shards.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

DEEPSPEED_DIR = "deepspeed"  # inside a checkpoint folder: the engine's own files (one per process)


def accelerator_kwargs(device: torch.device) -> dict[str, Any]:
    """How to build the Accelerator for `device` under whatever `accelerate launch` configured."""
    from accelerate.utils import InitProcessGroupKwargs

    if device.type != "cpu":
        return {}
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        # accelerate routes to DeepSpeed only when not told cpu=True, and then needs the CPU backend named.
        return {"cpu": False, "kwargs_handlers": [InitProcessGroupKwargs(backend="gloo")]}
    # cpu=True lets accelerate pick gloo for several CPU processes (torchrun / accelerate launch --cpu).
    return {"cpu": True}


def is_deepspeed(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def configure(accelerator: Any, batch_size: int, gradient_accumulation: int, max_grad_norm: float | None) -> None:
    """Before `prepare`: DeepSpeed's batch and clipping come from the emergent config, not its own file."""
    plugin = accelerator.state.deepspeed_plugin
    if plugin is None:
        return
    ds = plugin.deepspeed_config
    ds["train_micro_batch_size_per_gpu"] = batch_size
    ds["gradient_accumulation_steps"] = gradient_accumulation
    ds["train_batch_size"] = batch_size * gradient_accumulation * accelerator.num_processes
    ds["gradient_clipping"] = max_grad_norm or 0.0
    accelerator.gradient_accumulation_steps = gradient_accumulation


def accumulating(accelerator: Any, wrapped: torch.nn.Module, last: bool) -> contextlib.AbstractContextManager:
    """Skip the gradient all-reduce on all but the last micro-batch; DeepSpeed's engine does this itself."""
    if last or is_deepspeed(accelerator):
        return contextlib.nullcontext()
    return accelerator.no_sync(wrapped)


def backward(accelerator: Any, loss: torch.Tensor, last: bool) -> None:
    """Backward one micro-batch; under DeepSpeed the last one also reduces, clips and updates."""
    if is_deepspeed(accelerator):
        # The loss is already divided by the step's global count of loss tokens: DeepSpeed must not
        # divide it again by the accumulation steps.
        accelerator.deepspeed_engine_wrapped.backward(loss, sync_gradients=last, scale_wrt_gas=False)
    else:
        accelerator.backward(loss)


def torch_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer that holds the learning rates, under accelerate's (and DeepSpeed's) wrappers."""
    while hasattr(optimizer, "optimizer"):
        optimizer = optimizer.optimizer
    return optimizer


def _whole() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # Whole (unsharded) trainable tensors on the main process's CPU; other processes get {}.
    return StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)


def lora_state(accelerator: Any, wrapped: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's LoRA tensors under PeftModel names, on the main process; collective.

    Only the trainable tensors are gathered, so the frozen base (16 GB for an 8B model) is never
    assembled. Under DeepSpeed they are read from the optimizer's fp32 master copies, which are the
    weights it trains (the model holds their bf16 rounding under mixed precision).
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    if is_deepspeed(accelerator):
        full = _deepspeed_lora(accelerator, wrapped)
    else:
        full = get_model_state_dict(wrapped, options=_whole())
    return {k.removeprefix("model."): v for k, v in full.items() if "lora_" in k}


def _deepspeed_lora(accelerator: Any, wrapped: torch.nn.Module) -> dict[str, torch.Tensor]:
    import deepspeed
    from deepspeed.utils import safe_get_full_fp32_param

    out = {}
    for name, param in accelerator.unwrap_model(wrapped).named_parameters():
        if "lora_" not in name:
            continue
        full = safe_get_full_fp32_param(param)  # collective under ZeRO-3
        if full is None:  # a parameter DeepSpeed keeps no master copy of
            with deepspeed.zero.GatheredParameters([param]):
                full = param.detach().clone()
        if accelerator.is_main_process:
            out[name] = full.detach().float().cpu()
    return out


def load_adapter(accelerator: Any, model: Any, wrapped: torch.nn.Module, weights: dict, where: Path) -> None:
    """Load saved adapter weights (PEFT file names) into the live, possibly sharded, model in place."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    # PEFT files drop the adapter name: ...q_proj.lora_A.weight is ...q_proj.lora_A.default.weight live.
    live = {n.replace(f".{model.active_adapter}.", "."): n for n, _ in model.named_parameters() if "lora_" in n}
    unknown, missing = sorted(set(weights) - set(live)), sorted(set(live) - set(weights))
    if unknown:
        raise ValueError(f"{where}: adapter weights do not fit this model/peft config (e.g. {unknown[0]})")
    if missing:
        raise ValueError(f"{where}: adapter weights lack {len(missing)} tensors of this model (e.g. {missing[0]})")
    state = {f"model.{live[k]}": v for k, v in weights.items()}  # names under PackedLoss
    if is_deepspeed(accelerator):
        _load_adapter_deepspeed(accelerator, wrapped, state)
        return
    # Whole tensors in; each process keeps its shard (FSDP) or the whole (DDP, one process).
    set_model_state_dict(wrapped, state, options=StateDictOptions(full_state_dict=True, strict=False))


def _load_adapter_deepspeed(accelerator: Any, wrapped: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    import deepspeed
    from deepspeed.utils import safe_set_full_fp32_param

    params = dict(accelerator.unwrap_model(wrapped).named_parameters())
    for name, value in state.items():
        param = params[name]
        # The weights the model computes with (under ZeRO-3 gathered, written, re-partitioned on exit) ...
        with deepspeed.zero.GatheredParameters([param], modifier_rank=0), torch.no_grad():
            param.copy_(value.to(param.dtype))
        # ... and the optimizer's fp32 master copy, which it updates and writes back after each step.
        safe_set_full_fp32_param(param, value.to(torch.float32))


def save_state(accelerator: Any, wrapped: torch.nn.Module, optimizer: Any, folder: Path) -> dict | None:
    """Collective. The optimizer state for the main process to write (whole, keyed by parameter name), or
    None under DeepSpeed, whose engine has written its partitions into folder/deepspeed itself."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    if is_deepspeed(accelerator):
        engine = accelerator.deepspeed_engine_wrapped.engine
        engine.save_checkpoint(str(folder / DEEPSPEED_DIR), tag="state", save_latest=False,
                               exclude_frozen_parameters=True)  # fmt: skip
        return None
    return get_optimizer_state_dict(wrapped, torch_optimizer(optimizer), options=_whole())


def load_state(accelerator: Any, wrapped: torch.nn.Module, optimizer: Any, folder: Path, state: dict | None) -> None:
    """Restore what `save_state` saved (after the adapter weights are loaded)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    if is_deepspeed(accelerator):
        engine = accelerator.deepspeed_engine_wrapped.engine
        loaded, _ = engine.load_checkpoint(str(folder / DEEPSPEED_DIR), tag="state", load_module_strict=False,
                                           load_lr_scheduler_states=False)  # fmt: skip
        if loaded is None:
            raise ValueError(f"{folder}: no DeepSpeed state to resume from — was it written by a DeepSpeed run?")
        return
    if state is None:
        raise ValueError(f"{folder}: no optimizer state — it was written by a DeepSpeed run; resume under DeepSpeed")
    if any(isinstance(key, int) for key in state.get("state", {})):
        raise ValueError(
            f"{folder}: optimizer state keyed by position, as emergent wrote it before FSDP support — delete "
            "this checkpoint folder to restart the phase from its beginning (finished phases are kept)"
        )
    set_optimizer_state_dict(wrapped, torch_optimizer(optimizer), state, options=StateDictOptions(full_state_dict=True))
