"""A leaner LoRA forward for training: PEFT's maths, fewer full-size passes over the activations.

PEFT's LoRA `Linear` computes `base(x) + lora_B(lora_A(dropout(x.to(A.dtype)))) * scaling`. Trained
the way emergent trains in bf16 (frozen bf16 base, fp32 adapter weights, autocast), that costs, on
each of the 7 projections of every layer:
- a cast of the input up to fp32 (the adapter weights' dtype), a dropout over the fp32 copy, and
  autocast's cast back down to bf16 for the `lora_A` matmul, all undone again in backward;
- the scaling multiplied into, and the result added onto, the full-width output.
Here the input stays in the autocast dtype, the scaling multiplies the rank-wide `lora_A` output
(r columns instead of out_features), and so does FastDropout's 1/(1-p), and one in-place `addmm_` adds
the `lora_B` product onto the base output. The same function, up to rounding:
`((x * mask) @ A.T * s / (1-p)) @ B.T == ((x * mask / (1-p)) @ A.T) @ B.T * s`.

The fast path is taken only for what it covers — one active plain LoRA adapter, not merged, not
disabled, no per-call adapter names — and PEFT's own forward runs otherwise.
"""

from __future__ import annotations

from types import MethodType
from typing import Any

import torch

from emergent.train.dropout import FastDropout


def _lean_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    active = self.active_adapters
    name = active[0] if len(active) == 1 else None
    if (
        args
        or kwargs
        or name is None
        or self.disable_adapters
        or self.merged
        or name not in self.lora_A
        or name in self.lora_variant
    ):
        return type(self).forward(self, x, *args, **kwargs)
    result = self.base_layer(x)
    drop = self.lora_dropout[name]
    if isinstance(drop, FastDropout):  # its inverse-keep scale joins LoRA's scaling on the rank-wide product
        dropped, kept_scale = drop.unscaled(x)
    else:
        dropped, kept_scale = drop(x), 1.0
    h = self.lora_A[name](dropped) * (self.scaling[name] * kept_scale)
    lora_b = self.lora_B[name]
    # DeepSpeed ZeRO-3 gathers a module's weight only when it is called; a strided output has no 2-D view.
    if hasattr(lora_b.weight, "ds_id") or not result.is_contiguous():
        return result + lora_b(h)
    # In place: a fresh full-width output per projection was a copy as costly as a small matmul on CPU.
    # The base matmul's backward does not need its output, so autograd allows it. In-place ops skip
    # autocast, hence the explicit cast of the (small) lora_B weight.
    result.view(-1, result.shape[-1]).addmm_(h.reshape(-1, h.shape[-1]), lora_b.weight.t().to(result.dtype))
    return result


def use_lean_lora_forward(model: torch.nn.Module, autocast: bool) -> int:
    """Give every PEFT LoRA Linear the lean forward; returns how many layers got it.

    `autocast`: every forward runs under autocast (mixed precision). Only then may the input skip
    PEFT's cast to the adapter weights' dtype: without autocast a bf16 input would meet fp32 weights.
    With fp32 training there is nothing to cast and the rest of the lean path still applies.
    """
    from peft.tuners.lora.layer import Linear

    swapped = 0
    for module in model.modules():
        if type(module) is not Linear or any(getattr(module, "lora_bias", {}).values()):
            continue  # (a bias on lora_B would need more than the addmm_ above)
        weights = {p.dtype for p in module.base_layer.parameters()} | {p.dtype for p in module.lora_A.parameters()}
        if len(weights) > 1 and not autocast:
            continue
        module.forward = MethodType(_lean_forward, module)
        swapped += 1
    return swapped
