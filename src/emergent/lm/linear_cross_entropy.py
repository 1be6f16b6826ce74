"""Output head + cross-entropy in chunks of tokens, with the gradient computed in the forward pass.

`F.cross_entropy(lm_head(hidden).float(), targets)` holds the whole [tokens, vocab] logits several
times over: the head's output, its fp32 copy, log-softmax's output, and in backward a zero-filled
gradient, log-softmax's gradient and its cast back: for SmolLM2 (vocab 49,152), six fresh tensors of
60-125 MB per micro-batch (bench/RESULTS.md, CPU session 5). Here the logits of a few hundred tokens at a time are written into two reused buffers, the
loss and `softmax - onehot` are computed in place, and that gradient is multiplied back through the
head at once (the idea of Liger's fused linear cross-entropy), so backward only scales a stored
[tokens, hidden] gradient. Same FLOPs and the same roundings as the plain path: logits in the
compute dtype, softmax in fp32, the gradient cast back to the compute dtype for its matmul.

The head's weight must be frozen (it is: LoRA does not train it); otherwise `linear_cross_entropy`
takes the plain path, and likewise under DeepSpeed ZeRO-3, whose partitioned weight is only whole
inside the head's own forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Logit elements per chunk: 32 MB of fp32 on CPU stays near the caches' reach; larger on accelerators,
# where a wide matmul matters more than the buffer.
_CHUNK_ELEMENTS = {"cpu": 1 << 23}
_DEFAULT_CHUNK_ELEMENTS = 1 << 27


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    device = hidden.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        dtype: torch.dtype,
        chunk: int,
        need_grad: bool,
    ) -> torch.Tensor:
        h, w = hidden.to(dtype), weight.to(dtype)
        b = None if bias is None else bias.to(dtype)
        n, vocab = h.shape[0], w.shape[0]
        logits = torch.empty(min(chunk, n), vocab, dtype=dtype, device=h.device)
        probs = logits if dtype == torch.float32 else torch.empty_like(logits, dtype=torch.float32)
        loss = torch.zeros((), dtype=torch.float32, device=h.device)
        grad = torch.empty_like(h) if need_grad else None
        for start in range(0, n, chunk):
            rows, t = slice(start, min(start + chunk, n)), targets[start : start + chunk]
            m = t.shape[0]
            lg, pr = logits[:m], probs[:m]
            torch.mm(h[rows], w.t(), out=lg)
            if b is not None:
                lg.add_(b)
            if pr is not lg:
                pr.copy_(lg)
            top = pr.amax(dim=1, keepdim=True)
            loss -= (pr.gather(1, t.unsqueeze(1)) - top).sum()
            total = pr.sub_(top).exp_().sum(dim=1, keepdim=True)  # one exp per logit serves loss and softmax
            loss += total.log().sum()
            if grad is None:
                continue
            pr.div_(total)
            pr[torch.arange(m, device=pr.device), t] -= 1.0
            if lg is not pr:
                lg.copy_(pr)
            torch.mm(lg, w, out=grad[rows])
        ctx.save_for_backward(grad)
        ctx.hidden_dtype = hidden.dtype
        return loss

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_loss: torch.Tensor) -> tuple:
        (grad,) = ctx.saved_tensors
        grad = (grad * grad_loss.to(grad.dtype)).to(ctx.hidden_dtype)
        return grad, None, None, None, None, None, None


def linear_cross_entropy(
    hidden: torch.Tensor, head: torch.nn.Linear, targets: torch.Tensor, chunk_elements: int | None = None
) -> torch.Tensor:
    """Summed cross-entropy of `head(hidden)` [tokens, vocab] against `targets` [tokens], in chunks.

    `chunk_elements`: logit elements computed at once (default by device); tests set it small.
    """
    weight, bias = head.weight, head.bias
    frozen = not weight.requires_grad and (bias is None or not bias.requires_grad)
    if not frozen or hasattr(weight, "ds_id") or hidden.shape[0] == 0:
        return F.cross_entropy(head(hidden).float(), targets, reduction="sum")
    elements = chunk_elements or _CHUNK_ELEMENTS.get(hidden.device.type, _DEFAULT_CHUNK_ELEMENTS)
    chunk = max(1, elements // weight.shape[0])
    need_grad = torch.is_grad_enabled() and hidden.requires_grad
    return _ChunkedLinearCrossEntropy.apply(hidden, weight, bias, targets, _compute_dtype(hidden), chunk, need_grad)
