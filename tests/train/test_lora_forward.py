"""The lean LoRA forward computes what PEFT's computes: outputs and adapter gradients, fp32 and bf16."""

from __future__ import annotations

import copy

import torch

from emergent.config import parse_config
from emergent.lm.loading import load_model
from emergent.train.adapter import add_adapter
from emergent.train.dropout import use_fast_lora_dropout
from emergent.train.lora_forward import use_lean_lora_forward

from .conftest import config_dict


def _model(tiny_model_dir, tmp_path, precision: str):
    cfg = parse_config(config_dict(tiny_model_dir, tmp_path), tmp_path / "c.yaml")
    torch.manual_seed(0)
    model = add_adapter(load_model(cfg.model, precision), cfg.peft, "tiny")
    for p in model.parameters():  # non-zero B, so the LoRA branch (and its dropout) shows in the output
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.05)
    use_fast_lora_dropout(model)
    return model.train(), cfg


def _run(model, ids, autocast: bool):
    torch.manual_seed(7)  # the same dropout masks on both sides
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=ids).logits
    logits.float().square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    return logits.detach().float(), grads


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_lean_forward_matches_peft_in_fp32(tiny_model_dir, tmp_path):
    model, cfg = _model(tiny_model_dir, tmp_path, "fp32")
    ids = torch.arange(3, 99).view(2, 48)
    ref_logits, ref_grads = _run(model, ids, autocast=False)
    layers = model.config.num_hidden_layers
    assert use_lean_lora_forward(model, autocast=False) == layers * len(cfg.peft.target_modules)
    logits, grads = _run(model, ids, autocast=False)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert _rel(grad, ref_grads[name]) < 1e-5, name


def test_lean_forward_in_bf16_is_as_close_to_exact_as_peft(tiny_model_dir, tmp_path):
    # bf16 rounds differently on the two paths, so both are measured against the same model in fp32
    # (its base weights the bf16 ones, exactly): the lean path must not be further from it than PEFT's.
    model, _ = _model(tiny_model_dir, tmp_path, "bf16")
    ids = torch.arange(3, 99).view(2, 48)
    exact_logits, exact = _run(copy.deepcopy(model).float(), ids, autocast=False)
    peft_logits, peft = _run(model, ids, autocast=True)
    use_lean_lora_forward(model, autocast=True)
    lean_logits, lean = _run(model, ids, autocast=True)
    assert _rel(lean_logits, exact_logits) < 1.25 * _rel(peft_logits, exact_logits) + 1e-3
    worse = {n: (_rel(lean[n], exact[n]), _rel(peft[n], exact[n])) for n in exact}
    assert all(lean_err < 1.5 * peft_err + 5e-3 for lean_err, peft_err in worse.values()), worse
    mean_lean = sum(e for e, _ in worse.values()) / len(worse)
    mean_peft = sum(e for _, e in worse.values()) / len(worse)
    assert mean_lean < 1.1 * mean_peft + 1e-3, (mean_lean, mean_peft)


def test_mixed_dtypes_without_autocast_keep_peft_forward(tiny_model_dir, tmp_path):
    # A bf16 base with fp32 adapter weights needs PEFT's input cast unless autocast runs every forward.
    model, _ = _model(tiny_model_dir, tmp_path, "bf16")
    assert use_lean_lora_forward(model, autocast=False) == 0


def test_disabled_or_merged_adapter_falls_back_to_peft(tiny_model_dir, tmp_path):
    model, _ = _model(tiny_model_dir, tmp_path, "fp32")
    model.eval()
    ids = torch.arange(3, 51).view(1, 48)
    with torch.no_grad():
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        with_lora = model(input_ids=ids).logits
        use_lean_lora_forward(model, autocast=False)
        with model.disable_adapter():
            torch.testing.assert_close(model(input_ids=ids).logits, base)
        torch.testing.assert_close(model(input_ids=ids).logits, with_lora, rtol=1e-5, atol=1e-5)
        model.merge_adapter()
        torch.testing.assert_close(model(input_ids=ids).logits, with_lora, rtol=1e-4, atol=1e-4)
