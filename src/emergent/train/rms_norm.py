"""RMSNorm as one autograd function with a hand-written backward, for training with a frozen norm weight.

transformers' Llama-family RMSNorm is six tensor ops (cast up, square, mean, rsqrt, multiply, cast
down, times the weight), and autograd keeps what each needs and runs each one's backward. Here the
forward runs the same ops in the same order (so outputs are bitwise the same), keeps only the input
and the [tokens, 1] reciprocal RMS, and the backward is the closed form
`rstd * (g - x_hat * mean(g * x_hat))` with `g` the gradient at the normalised input (about half the
time on CPU: bench/RESULTS.md, CPU session 5).

Only for norms whose weight is frozen (LoRA never trains them) and whose forward is known to be the
Llama one; anything else keeps its own forward.
"""

from __future__ import annotations

from types import MethodType
from typing import Any

import torch

# Classes whose forward is `weight * (x.float() * rsqrt(mean(x.float()^2) + eps)).to(x.dtype)`.
_LLAMA_STYLE = frozenset({"LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm", "Qwen3RMSNorm"})


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        h = x.to(torch.float32, copy=True)  # a copy even from fp32: it is scaled in place below
        rstd = torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        ctx.save_for_backward(x, weight, rstd)
        return weight * h.mul_(rstd).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        x, weight, rstd = ctx.saved_tensors
        g = (grad * weight).to(torch.float32)  # the gradient at the normalised input
        x_hat = x.to(torch.float32) * rstd
        dot = (g * x_hat).mean(-1, keepdim=True)
        return g.sub_(x_hat.mul_(dot)).mul_(rstd).to(x.dtype), None, None


def _fused_forward(self: Any, hidden_states: torch.Tensor) -> torch.Tensor:
    # (ZeRO-3 partitions the weight: whole only inside its module's own forward and backward hooks.)
    if self.weight.requires_grad or not torch.is_grad_enabled() or hasattr(self.weight, "ds_id"):
        return type(self).forward(self, hidden_states)
    return _RMSNorm.apply(hidden_states, self.weight, self.variance_epsilon)


def use_fused_rms_norm(model: torch.nn.Module) -> int:
    """Give every Llama-style RMSNorm of `model` the fused forward in place; returns how many."""
    swapped = 0
    for module in model.modules():
        if type(module).__name__ in _LLAMA_STYLE and hasattr(module, "variance_epsilon"):
            module.forward = MethodType(_fused_forward, module)
            swapped += 1
    return swapped
