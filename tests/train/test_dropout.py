"""FastDropout: inverted dropout at the configured rate, independent draws, the right gradient, reproducible,
swapped into PEFT."""

from __future__ import annotations

import pytest
import torch

from emergent.config import parse_config
from emergent.lm.loading import load_model
from emergent.train.adapter import add_adapter
from emergent.train.dropout import FastDropout, bernoulli_positions, use_fast_lora_dropout

from .conftest import config_dict


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.7])  # 0.7: the kept positions are drawn instead
def test_drops_at_the_configured_rate_and_keeps_the_expectation(dtype, p):
    torch.manual_seed(0)
    x = torch.ones(1024, 4096, dtype=dtype)
    out = FastDropout(p).train()(x)
    dropped = (out == 0).float().mean().item()
    # 4.2M draws: the standard error of the rate is at most 2.5e-4.
    assert abs(dropped - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5
    kept = out[out != 0]
    assert torch.equal(kept, torch.full_like(kept, 1 / (1 - p)))  # the exact scale, as the dtype holds it
    if dtype == torch.float32:  # (bf16 holds 1/0.95 as 1.0547, a rounding any bf16 dropout has)
        assert abs(out.mean().item() - 1.0) < 5 * (p / (1 - p) / x.numel()) ** 0.5


def test_drops_are_independent_of_their_neighbours_and_of_position():
    torch.manual_seed(5)
    n, p = 4_000_000, 0.05
    dropped = torch.zeros(n, dtype=torch.bool)
    dropped[bernoulli_positions(n, p)] = True
    se = (p * p * (1 - p * p) / n) ** 0.5
    for lag in (1, 2, 7):  # P(drop at i and at i + lag) = p^2 for independent draws
        both = (dropped[:-lag] & dropped[lag:]).float().mean().item()
        assert abs(both - p * p) < 5 * se, (lag, both)
    # The same rate at the start, the middle and the end (the gaps neither drift nor run short).
    for part in dropped.view(4, -1):
        assert abs(part.float().mean().item() - p) < 5 * (p * (1 - p) / part.numel()) ** 0.5
    # Every position can be drawn: the first and last of a short range over many draws.
    firsts = [bernoulli_positions(3, 0.5).tolist() for _ in range(400)]
    assert {tuple(f) for f in firsts} == {(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gradient_is_the_mask_times_the_scale(dtype):
    torch.manual_seed(1)
    x = torch.randn(64, 333, dtype=dtype, requires_grad=True)  # an element count not a multiple of 4
    drop = FastDropout(0.3).train()
    out = drop(x)
    out.sum().backward()
    mask = (out != 0).to(dtype)
    assert x.grad.dtype == dtype and torch.equal(x.grad, mask * drop.scale)
    assert torch.equal(out, x.detach() * mask * drop.scale)  # masked, then scaled: bf16 rounds the same way


def test_reproducible_from_the_torch_seed_and_off_in_eval():
    drop = FastDropout(0.1).train()
    x = torch.randn(50, 70)
    torch.manual_seed(3)
    a = drop(x)
    torch.manual_seed(3)
    assert torch.equal(drop(x), a)
    assert not torch.equal(drop(x), a)
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropout(1.0)


def test_swapped_into_every_lora_layer_without_changing_eval_outputs(tiny_model_dir, tmp_path):
    raw = config_dict(tiny_model_dir, tmp_path)
    raw["peft"]["lora_dropout"] = 0.05
    cfg = parse_config(raw, tmp_path / "c.yaml")
    model = add_adapter(load_model(cfg.model, "fp32"), cfg.peft, "tiny")
    for p in model.parameters():  # non-zero LoRA B, so the LoRA branch (and its dropout) matters
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.05)
    model.eval()
    ids = torch.arange(40).unsqueeze(0)
    before = model(input_ids=ids).logits
    layers = len(model.get_base_model().model.layers)
    assert use_fast_lora_dropout(model) == layers * len(cfg.peft.target_modules)
    assert torch.equal(model(input_ids=ids).logits, before)
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(input_ids=ids).logits, before)


def test_bf16_input_is_scaled_then_rounded_once():
    # The kept elements are x * 1/(1-p) rounded once to bf16, not x times a bf16-rounded scale.
    torch.manual_seed(4)
    x = torch.randn(256, 512, dtype=torch.bfloat16)
    drop = FastDropout(0.05).train()
    out = drop(x)
    kept = out != 0
    assert torch.equal(out[kept], (x.float() * drop.scale).to(torch.bfloat16)[kept])


def test_extreme_rates_and_empty_inputs():
    torch.manual_seed(6)
    x = torch.ones(1000, 1000)
    assert (FastDropout(1e-9).train()(x) == 0).sum() <= 1  # tiny but real rates: gaps of ~1e9
    assert (FastDropout(1 - 1e-6).train()(x) != 0).sum() <= 10
    empty = torch.ones(0, 16)
    assert FastDropout(0.1).train()(empty).shape == (0, 16)
    assert bernoulli_positions(0, 0.1).numel() == 0
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        bernoulli_positions(10, 0.0)
