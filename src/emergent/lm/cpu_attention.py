"""Causal attention over packed conversations on CPU: each conversation alone, its queries in blocks.

SDPA over a packed row with a block-diagonal mask computes every cross-conversation block only to
mask it, and its CPU kernel reaches ~35 GFLOP/s in bf16 where a plain bmm reaches ~400. So each
conversation is attended on its own with bmm, the query heads sharing a kv head stacked into one
operand (grouped-query attention without copying keys and values per head). Two more savings:
- Causality: a conversation's queries go in blocks of about `QUERY_BLOCK` rows, and each block
  multiplies only the keys up to its last row, so a 512-token conversation computes 5/8 of the
  square score matrix rather than all of it.
- One autograd node per layer: autograd over per-conversation slices would zero-fill a full-size
  gradient per slice. The backward writes each block's gradients straight into one buffer per input
  and keeps only the scaled queries and the bf16 probabilities (recomputed instead for conversations
  over `SAVED_MAX_LEN` tokens, whose square probability matrices would be large).
Figures: bench/RESULTS.md, CPU sessions 4 and 6.
Tests check values and gradients against SDPA (tests/lm/test_cpu_attention.py and, through the
model, tests/lm/test_varlen_attention.py).
"""

from __future__ import annotations

from typing import Any

import torch

QUERY_BLOCK = 128  # of 96, 128, 192, 256 and whole conversations, the fastest here (bench/RESULTS.md)
SAVED_MAX_LEN = 1024


def query_blocks(n: int, block: int) -> list[tuple[int, int]]:
    """[start, end) of near-equal query blocks of about `block` rows covering 0..n."""
    parts = max(1, round(n / block))
    edges = [n * i // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _scores(qb: torch.Tensor, k: torch.Tensor, start: int, a: int, b: int) -> torch.Tensor:
    """Probabilities [kv, group * rows, b] of block rows a..b over keys start..start+b, causal."""
    kv, group, rows, _ = qb.shape
    s = torch.bmm(qb.view(kv, group * rows, -1), k[:, start : start + b].transpose(1, 2))
    future = torch.full((rows, rows), float("-inf"), dtype=s.dtype, device=s.device).triu_(1)
    s.view(kv, group, rows, b)[..., a:].add_(future)  # key a + j is in the future of query a + i when j > i
    return torch.softmax(s, dim=-1)


class _PackedCausalAttention(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, spans: list[tuple[int, int, int]], scale: float
    ) -> torch.Tensor:
        batch, heads, seq, dim = q.shape
        kv = k.shape[1]
        out = q.new_empty(batch, seq, heads, dim)
        units = []
        for row, start, end in spans:
            keep = end - start <= SAVED_MAX_LEN
            qs = q[row].unflatten(0, (kv, heads // kv))
            for a, b in query_blocks(end - start, QUERY_BLOCK):
                qb = q.new_empty(kv, heads // kv, b - a, dim)
                torch.mul(qs[:, :, start + a : start + b], scale, out=qb)
                p = _scores(qb, k[row], start, a, b)
                o = torch.bmm(p, v[row, :, start : start + b])
                out[row, start + a : start + b].view(b - a, kv, -1, dim).copy_(
                    o.view(kv, -1, b - a, dim).permute(2, 0, 1, 3)
                )
                units.append((row, start, a, b, qb, p if keep else None))
        ctx.units, ctx.scale = units, scale
        ctx.save_for_backward(k, v)
        # The gradient in q's own layout: transformers hands over transposed [batch, seq, heads, dim] memory.
        ctx.q_layout = (q.shape, torch.empty_like(q, device="meta").stride())
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None, None]:
        k, v = ctx.saved_tensors
        batch, seq, heads, dim = grad.shape
        kv = k.shape[1]
        dq = torch.empty_strided(ctx.q_layout[0], ctx.q_layout[1], dtype=grad.dtype)
        dk, dv = torch.zeros_like(k), torch.zeros_like(v)
        for row, start, a, b, qb, p in ctx.units:
            rows = b - a
            if p is None:
                p = _scores(qb, k[row], start, a, b)
            do = grad[row, start + a : start + b].reshape(rows, kv, -1, dim).permute(1, 2, 0, 3).reshape(kv, -1, dim)
            dp = torch.bmm(do, v[row, :, start : start + b].transpose(1, 2))
            ds = torch._softmax_backward_data(dp, p, -1, p.dtype)
            dq_block = torch.bmm(ds, k[row, :, start : start + b]).view(kv, -1, rows, dim)
            torch.mul(dq_block, ctx.scale, out=dq[row].unflatten(0, (kv, -1))[:, :, start + a : start + b])
            dk[row, :, start : start + b].baddbmm_(ds.transpose(1, 2), qb.view(kv, -1, dim))
            dv[row, :, start : start + b].baddbmm_(p.transpose(1, 2), do)
        ctx.units = None
        return dq, dk, dv, None, None


@torch.compiler.disable  # a Python loop over data-dependent bounds: keep it out of compiled layers
def packed_causal_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor, scale: float
) -> torch.Tensor:
    """q [batch, heads, seq, dim], k/v [batch, kv_heads, seq, dim] -> [batch, seq, heads, dim].

    `cu_seqlens` marks the sequences of the flattened [batch * seq] stream; none may cross a row.
    """
    seq = q.shape[2]
    bounds = cu_seqlens.tolist()
    spans = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end == start:  # an empty sequence (a repeated boundary) attends to nothing
            continue
        row = start // seq
        if end > (row + 1) * seq:
            raise ValueError(f"sequence [{start}, {end}) crosses the end of packed row {row} (rows of {seq} tokens)")
        spans.append((row, start - row * seq, end - row * seq))
    with torch.autocast("cpu", enabled=False):  # the dtypes are chosen here: bf16 products, fp32 softmax sums
        return _PackedCausalAttention.apply(q, k.to(q.dtype), v.to(q.dtype), spans, scale)
