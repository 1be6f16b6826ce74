"""The chunked head + cross-entropy gives the plain path's loss and gradient, in fp32 and under bf16 autocast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emergent.lm.linear_cross_entropy import linear_cross_entropy

VOCAB, WIDTH, TOKENS = 50, 16, 37


def _head(bias: bool, dtype: torch.dtype = torch.float32) -> torch.nn.Linear:
    torch.manual_seed(0)
    head = torch.nn.Linear(WIDTH, VOCAB, bias=bias).to(dtype)
    head.requires_grad_(False)
    return head


def _inputs(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    hidden = (torch.randn(TOKENS, WIDTH) * 2).to(dtype).requires_grad_()
    return hidden, torch.randint(0, VOCAB, (TOKENS,))


def _loss_and_grad(fn, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    hidden.grad = None
    loss = fn(hidden)
    (loss * 0.5).backward()  # a non-unit upstream gradient must scale the stored one
    return loss.detach(), hidden.grad.clone()


@pytest.mark.parametrize("bias", [False, True])
def test_equals_plain_cross_entropy_in_fp32_across_chunk_boundaries(bias):
    head, (hidden, targets) = _head(bias), _inputs()
    plain = _loss_and_grad(lambda h: F.cross_entropy(head(h).float(), targets, reduction="sum"), hidden)
    # 8 tokens per chunk: 37 tokens end in a partial chunk of 5.
    chunked = _loss_and_grad(lambda h: linear_cross_entropy(h, head, targets, chunk_elements=8 * VOCAB), hidden)
    torch.testing.assert_close(chunked[0], plain[0], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(chunked[1], plain[1], rtol=1e-5, atol=1e-6)


def test_matches_plain_cross_entropy_under_bf16_autocast():
    # As the trainer runs it on bf16 hardware: bf16 head and hidden states, autocast on.
    head, (hidden, targets) = _head(False, torch.bfloat16), _inputs(torch.bfloat16)

    def plain(h):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return F.cross_entropy(head(h).float(), targets, reduction="sum")

    def chunked(h):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return linear_cross_entropy(h, head, targets, chunk_elements=10 * VOCAB)

    (ref_loss, ref_grad), (loss, grad) = _loss_and_grad(plain, hidden), _loss_and_grad(chunked, hidden)
    assert grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(grad.float(), ref_grad.float(), rtol=1.6e-2, atol=1e-3)


def test_without_grad_gives_the_same_loss():
    head, (hidden, targets) = _head(True), _inputs()
    with torch.no_grad():
        plain = F.cross_entropy(head(hidden).float(), targets, reduction="sum")
        chunked = linear_cross_entropy(hidden, head, targets, chunk_elements=4 * VOCAB)
    torch.testing.assert_close(chunked, plain)


def test_a_trainable_head_takes_the_plain_path_and_gets_its_gradient():
    head, (hidden, targets) = _head(False), _inputs()
    head.requires_grad_(True)
    linear_cross_entropy(hidden, head, targets, chunk_elements=8 * VOCAB).backward()
    assert head.weight.grad is not None and hidden.grad is not None


def test_no_loss_tokens_gives_zero_with_a_gradient_path():
    head = _head(False)
    hidden = torch.zeros(0, WIDTH, requires_grad=True)
    loss = linear_cross_entropy(hidden, head, torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert float(loss.detach()) == 0.0 and hidden.grad.shape == (0, WIDTH)
