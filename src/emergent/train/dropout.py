"""LoRA dropout whose CPU mask is cheap to draw.

torch draws a CPU dropout mask one element at a time with a serial generator: on a 2-core EPYC,
`F.dropout` of a 2048 x 1536 bf16 input takes 20 ms, and the 7 LoRA dropouts per layer were 19 % of
a LoRA step of SmolLM2-135M in bf16. At LoRA's rates (0.05) nearly every draw says "keep", so this
draws only the dropped positions: the gaps between independent Bernoulli(p) events are geometric,
`1 + floor(log(U) / log(1 - p))`, one uniform per dropped element (1/p fewer draws), and their running
sum gives the positions, which are zeroed in a mask of ones. The mask is exactly Bernoulli: the
same distribution as `F.dropout`, the exact rate and the exact 1/(1-p) scale (above p = 0.5 the kept
positions are drawn instead). 2000 x 1536 bf16: 5.0 ms for the earlier 16-bit-threshold mask
(bench/RESULTS.md, session 4), 1.5 ms this way. On other devices it is `F.dropout`, whose GPU
kernels are fast.
The mask is built in x's dtype: a multiply by a boolean mask took 1.2-1.6 ms per 1.2M bf16 elements
(torch converts booleans element by element), by an int16 mask 0.23 ms (a converted copy on every
use), by a bf16 mask 0.14 ms.
The scale 1/(1-p) is a separate multiply of the masked input, so bf16 rounds once (a bf16 mask
holding the scale would round the scale itself: 1.0526 -> 1.0547, a 0.2 % bias), and `unscaled`
lets a caller fold it into a smaller multiply instead.
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
