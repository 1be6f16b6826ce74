"""The fused RMSNorm gives the Llama norm's outputs bitwise and its input gradient to rounding."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from emergent.config import parse_config
from emergent.lm.loading import load_model
from emergent.train.adapter import add_adapter
from emergent.train.rms_norm import use_fused_rms_norm

from .conftest import config_dict


def _norms(dtype: torch.dtype) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    norm = LlamaRMSNorm(96, eps=1e-5).to(dtype)
    with torch.no_grad():
        norm.weight.normal_(1.0, 0.2)
    norm.weight.requires_grad_(False)
    fused = copy.deepcopy(norm)
    assert use_fused_rms_norm(fused) == 1
    return norm, fused


def _forward_backward(norm: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor):
    x = x.clone().requires_grad_()
    out = norm(x)
    out.backward(grad)
    return out.detach(), x.grad


@pytest.mark.parametrize(("dtype", "grad_tol"), [(torch.float32, 1e-6), (torch.bfloat16, 4e-3)])
def test_fused_norm_matches_the_llama_norm(dtype, grad_tol):
    norm, fused = _norms(dtype)
    torch.manual_seed(1)
    x, grad = (torch.randn(2, 37, 96) * 3).to(dtype), torch.randn(2, 37, 96).to(dtype)
    ref_out, ref_grad = _forward_backward(norm, x, grad)
    out, x_grad = _forward_backward(fused, x, grad)
    assert torch.equal(out, ref_out)
    assert x_grad.dtype == dtype
    assert float((x_grad.float() - ref_grad.float()).norm() / ref_grad.float().norm()) < grad_tol


def test_a_trainable_weight_keeps_the_models_own_norm():
    _, fused = _norms(torch.float32)
    fused.weight.requires_grad_(True)
    fused(torch.randn(4, 96)).sum().backward()
    assert fused.weight.grad is not None


def test_every_norm_of_a_llama_is_swapped_and_the_loss_is_unchanged(tiny_model_dir, tmp_path):
    cfg = parse_config(config_dict(tiny_model_dir, tmp_path), tmp_path / "c.yaml")
    model = add_adapter(load_model(cfg.model, "fp32"), cfg.peft, "tiny").eval()
    ids = torch.arange(3, 99).view(2, 48)
    ref = model(input_ids=ids, labels=ids).loss
    assert use_fused_rms_norm(model) == 2 * model.config.num_hidden_layers + 1
    torch.testing.assert_close(model(input_ids=ids, labels=ids).loss, ref)
