"""The CPU packed attention against SDPA run on each conversation alone: outputs and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emergent.lm import cpu_attention
from emergent.lm.cpu_attention import packed_causal_attention, query_blocks


def reference(q, k, v, cu, scale):
    """SDPA per sequence on the flattened stream, causal, kv heads repeated: [batch, seq, heads, dim]."""
    batch, heads, seq, dim = q.shape
    group = heads // k.shape[1]
    flat = [t.transpose(1, 2).reshape(batch * seq, t.shape[1], dim) for t in (q, k, v)]
    outs = []
    bounds = cu.tolist()
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end == start:
            continue
        qs, ks, vs = (t[start:end].transpose(0, 1) for t in flat)
        ks, vs = ks.repeat_interleave(group, 0), vs.repeat_interleave(group, 0)
        outs.append(F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, scale=scale).transpose(0, 1))
    return torch.cat(outs).reshape(batch, seq, heads, dim)


@pytest.mark.parametrize("block,saved_max", [(256, 1024), (5, 1024), (16, 16)])
def test_outputs_and_gradients_equal_sdpa_per_sequence(monkeypatch, block, saved_max):
    monkeypatch.setattr(cpu_attention, "QUERY_BLOCK", block)
    monkeypatch.setattr(cpu_attention, "SAVED_MAX_LEN", saved_max)
    torch.manual_seed(0)
    batch, heads, kv_heads, seq, dim = 2, 6, 2, 40, 8
    cu = torch.tensor([0, 17, 18, 18, 40, 71, 80])  # row 0: 17 + 1 + (an empty one) + 22; row 1: 31 + 9
    q, k, v = (torch.randn(batch, h, seq, dim, dtype=torch.float64) for h in (heads, kv_heads, kv_heads))
    grad = torch.randn(batch, seq, heads, dim, dtype=torch.float64)
    results = []
    for fn in (reference, packed_causal_attention):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        out = fn(*leaves, cu, 0.3)
        out.backward(grad)
        results.append([out, *(t.grad for t in leaves)])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want)


def test_bf16_is_as_close_to_fp64_as_sdpa():
    torch.manual_seed(1)
    cu = torch.tensor([0, 300, 512])
    q, k, v = (torch.randn(1, h, 512, 64, dtype=torch.float64) for h in (9, 3, 3))
    grad = torch.randn(1, 512, 9, 64, dtype=torch.float64)
    errors = {}
    for name, fn in (("sdpa", reference), ("ours", packed_causal_attention)):
        exact = [t.clone().requires_grad_() for t in (q, k, v)]
        low = [t.to(torch.bfloat16).requires_grad_() for t in (q, k, v)]
        fn(*exact, cu, 0.125).backward(grad)
        fn(*low, cu, 0.125).backward(grad.to(torch.bfloat16))
        errors[name] = max(
            float((a.grad.double() - b.grad).norm() / b.grad.norm()) for a, b in zip(low, exact, strict=True)
        )
    assert errors["ours"] < 1.5 * errors["sdpa"] + 1e-3, errors


def test_query_blocks_cover_the_sequence():
    assert query_blocks(512, 256) == [(0, 256), (256, 512)]
    assert query_blocks(100, 256) == [(0, 100)]
    blocks = query_blocks(1001, 256)
    assert (
        blocks[0][0] == 0
        and blocks[-1][1] == 1001
        and all(a[1] == b[0] for a, b in zip(blocks[:-1], blocks[1:], strict=True))
    )


def test_a_sequence_crossing_a_row_is_refused():
    q = torch.zeros(2, 2, 10, 4)
    with pytest.raises(ValueError, match="crosses the end of packed row 0"):
        packed_causal_attention(q, q, q, torch.tensor([0, 12, 20]), 1.0)
