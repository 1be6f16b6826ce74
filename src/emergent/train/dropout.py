"""LoRA dropout whose CPU mask is cheap to draw.

torch draws a CPU dropout mask one element at a time, and at LoRA's rates (0.05) nearly every draw
says "keep" (figures: bench/RESULTS.md, CPU sessions 3 and 6). So this draws only the dropped
positions, as geometric gaps `1 + floor(log(U) / log(1 - p))`, and zeroes them in a mask of ones:
exactly Bernoulli(p) with the exact 1/(1-p) (above p = 0.5 the kept positions are drawn instead).
On other devices it is `F.dropout`, whose GPU kernels are fast.
The mask is in x's dtype because torch converts a boolean or integer mask on every multiply. The scale
is a separate multiply so that bf16 rounds once (a bf16 mask holding 1/(1-p) would bias it by 0.2 %);
`unscaled` lets a caller fold it into a smaller multiply instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bernoulli_positions(n: int, p: float) -> torch.Tensor:
    """The sorted positions in [0, n) of independent events of probability p (0 < p < 1), as int64.

    Drawn as geometric gaps from the global torch generator, so a seed reproduces them.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"event probability must be in (0, 1), got {p}")
    if n <= 0:
        return torch.zeros(0, dtype=torch.int64)
    log_miss = math.log1p(-p)
    chunks, last, expected = [], -1, n * p
    while last < n - 1:
        # Enough gaps to pass n but for a 6-sigma shortfall, which only costs another round.
        u = torch.rand(int(expected + 6 * math.sqrt(expected) + 16), dtype=torch.float64)
        gaps = torch.log1p(u.neg_()).div_(log_miss).floor_().to(torch.int64).add_(1)  # U = 1 - u is in (0, 1]
        chunks.append(gaps.cumsum_(0).add_(last))
        last = int(chunks[-1][-1])
        expected = (n - 1 - last) * p
    positions = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
    return positions[: int(torch.searchsorted(positions, n))]


class _Mask(torch.autograd.Function):
    """x * keep (`keep` holds 0.0 or 1.0 in x's dtype); backward applies the same mask to the gradient."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(keep)
        return x * keep

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (keep,) = ctx.saved_tensors
        return grad * keep, None


class FastDropout(torch.nn.Module):
    """Inverted dropout with probability `p`; on CPU the mask draws only the dropped positions."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.scale = 1.0 / (1.0 - p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dropped, scale = self.unscaled(x)
        return dropped if scale == 1.0 else dropped * scale

    def unscaled(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(x with the dropped elements zeroed, the scale the kept ones are owed).

        For a caller that multiplies the result into something smaller anyway, such as the lean LoRA
        forward, which folds the scale into LoRA's own scaling of the rank-wide product.
        """
        if not self.training or self.p == 0.0:
            return x, 1.0
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True), 1.0
        n = x.numel()
        if self.p <= 0.5:
            keep = torch.ones(n, dtype=x.dtype).index_fill_(0, bernoulli_positions(n, self.p), 0)
        else:
            keep = torch.zeros(n, dtype=x.dtype).index_fill_(0, bernoulli_positions(n, 1.0 - self.p), 1)
        return _Mask.apply(x, keep.view(x.shape)), self.scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_fast_lora_dropout(model: torch.nn.Module) -> int:
    """Replace the nn.Dropout of every LoRA layer with FastDropout in place; returns how many."""
    swapped = 0
    for module in model.modules():
        drops = getattr(module, "lora_dropout", None)
        if not isinstance(drops, torch.nn.ModuleDict):
            continue
        for name, drop in list(drops.items()):
            if type(drop) is torch.nn.Dropout and drop.p > 0:
                drops[name] = FastDropout(drop.p).train(drop.training)
                swapped += 1
    return swapped
