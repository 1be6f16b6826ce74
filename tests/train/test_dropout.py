"""FastDropout: inverted dropout at the configured rate, the right gradient, reproducible, swapped into PEFT."""

from __future__ import annotations

import pytest
import torch

from emergent.config import parse_config
from emergent.train.dropout import FastDropout, use_fast_lora_dropout
from emergent.train.model import add_adapter, load_model

from .conftest import config_dict


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_drops_at_the_configured_rate_and_keeps_the_expectation(dtype):
    torch.manual_seed(0)
    x = torch.ones(1024, 4096, dtype=dtype)
    out = FastDropout(0.05).train()(x)
    dropped = (out == 0).float().mean().item()
    # 4.2M draws: the standard error of the rate is 1.1e-4.
    assert abs(dropped - 0.05) < 6e-4
    scale = 1 / (1 - 3277 / 65536)  # p = 0.05 in 1/65536 steps
    kept = out[out != 0]
    assert torch.equal(kept, torch.full_like(kept, scale))  # the scale as the dtype holds it
    if dtype == torch.float32:  # (bf16 holds the scale as 1.0547, a rounding any bf16 dropout has)
        assert abs(out.mean().item() - 1.0) < 6e-4


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


def test_rates_that_round_to_nothing_or_everything():
    x = torch.randn(8, 8)
    assert torch.equal(FastDropout(1e-7).train()(x), x)  # below 1/131072: rounds to no dropout
    with pytest.raises(ValueError, match="rounds to 1"):
        FastDropout(1 - 1e-7)
