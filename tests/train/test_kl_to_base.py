"""training.kl_to_base: KL(base || adapter) added to the cross-entropy, measured against full logits."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from emergent.lm.config import ModelConfig
from emergent.lm.loading import load_model
from emergent.lm.loss import PackedLoss
from emergent.lm.packing import IGNORE, collate
from emergent.lm.render import encode
from emergent.train.adapter import add_adapter
from emergent.train.config import TrainingConfig
from emergent.train.trainer import train
from train.conftest import conversations, make_config, write_phases

KEYS = ("input_ids", "position_ids", "targets", "cu_seqlens", "max_seqlen")


def _peft(tiny_model_dir, cfg):
    model = load_model(ModelConfig(name=str(tiny_model_dir)), "fp32")
    return add_adapter(model, cfg.peft, str(tiny_model_dir))


@pytest.fixture
def batch(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = [encode(c, tok) for c in conversations(6)]
    rows = collate([examples[:3], examples[3:]], tok.pad_token_id)
    return {k: rows[k] for k in KEYS}


def _perturb(model, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def _reference(model, batch, beta: float) -> torch.Tensor:
    """CE + beta * KL(base || adapter) from the full [tokens, vocab] logits of the plain forward."""
    keep = batch["targets"] != IGNORE
    run = dict(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False)
    logits = model(**run).logits[keep].float()
    with torch.no_grad(), model.disable_adapter():
        base = model(**run).logits[keep].float()
    ce = F.cross_entropy(logits, batch["targets"][keep], reduction="sum")
    p_base = base.softmax(-1)
    kl = (p_base * (base.log_softmax(-1) - logits.log_softmax(-1))).sum()
    return ce + beta * kl


def test_a_fresh_adapter_is_the_base_model_so_the_penalty_is_zero(tiny_model_dir, tmp_path, batch):
    model = _peft(tiny_model_dir, make_config(tiny_model_dir, tmp_path))  # lora_B starts at zero
    plain, penalised = PackedLoss(model), PackedLoss(model, kl_to_base=2.0)
    with torch.no_grad():
        ce, n = plain(**batch)
        total, n2 = penalised(**batch)
    assert n == n2 and int(n) > 0
    assert penalised.last_parts[1].abs() < 1e-4
    torch.testing.assert_close(total, ce)


@pytest.mark.parametrize("fused", [True, False], ids=["fused-head", "full-logits"])
def test_loss_and_gradients_match_the_full_logits_reference(tiny_model_dir, tmp_path, batch, monkeypatch, fused):
    if not fused:  # the path architectures outside the verified list take
        monkeypatch.setattr("emergent.lm.loss.verified", lambda config: False)
    model = _peft(tiny_model_dir, make_config(tiny_model_dir, tmp_path))
    _perturb(model)
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    loss = PackedLoss(model, kl_to_base=0.7)
    total, _ = loss(**batch)
    ce, kl = loss.last_parts
    assert kl > 0.01  # the perturbed adapter has moved away from the base model
    grads = torch.autograd.grad(total, lora)
    expected = _reference(model, batch, 0.7)
    expected_grads = torch.autograd.grad(expected, lora)
    torch.testing.assert_close(total, expected, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(ce + 0.7 * kl, total.detach(), rtol=1e-5, atol=1e-4)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)
    # The penalty reaches the gradient: without it the gradients differ.
    plain_grads = torch.autograd.grad(PackedLoss(model)(**batch)[0], lora)
    assert max((a - b).abs().max() for a, b in zip(grads, plain_grads, strict=True)) > 1e-4


def test_validation_batches_get_the_cross_entropy_alone(tiny_model_dir, tmp_path, batch):
    model = _peft(tiny_model_dir, make_config(tiny_model_dir, tmp_path))
    _perturb(model)
    keep = batch["targets"] != IGNORE
    segments = torch.zeros(int(keep.sum()), dtype=torch.long)
    with torch.no_grad():
        plain = PackedLoss(model)(**batch, segments=segments, n_segments=1)
        penalised = PackedLoss(model, kl_to_base=5.0)(**batch, segments=segments, n_segments=1)
    torch.testing.assert_close(plain[0], penalised[0])


def test_a_model_without_an_adapter_is_refused(tiny_model_dir):
    model = load_model(ModelConfig(name=str(tiny_model_dir)), "fp32")
    with pytest.raises(ValueError, match="needs a PEFT model"):
        PackedLoss(model, kl_to_base=1.0)


def test_a_negative_weight_is_refused():
    with pytest.raises(ValueError, match="kl_to_base"):
        TrainingConfig(kl_to_base=-0.1)


def _trained_kl(model_dir, adapter_dir, batch) -> float:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir)
    loss = PackedLoss(model, kl_to_base=1.0)
    with torch.no_grad():
        loss(**batch)
    return float(loss.last_parts[1])


def test_training_with_the_penalty_logs_it_and_ends_closer_to_the_base_model(tiny_model_dir, tmp_path, batch):
    # One phase of 14 steps at a high rate: the plain adapter moves far; the penalised one must move less
    # (measured: KL 3.16 plain, 2.71 at weight 5, 1.11 at 50).
    phase_dir = write_phases(tmp_path / "data", per_phase=48)
    phases = [{"name": "phase1_foundation", "learning_rate": 2e-2, "categories": ["all"]}]
    outs = {}
    for beta in (0.0, 50.0):
        cfg = make_config(tiny_model_dir, tmp_path / f"b{beta}", phases, kl_to_base=beta)
        outs[beta] = tmp_path / f"out{beta}"
        train(cfg, phase_dir, outs[beta], show_progress=False)
    records = [json.loads(line) for line in (outs[50.0] / "metrics.jsonl").read_text().splitlines()]
    assert all("kl_to_base" in r and r["kl_to_base"] >= 0 for r in records)
    assert records[-1]["kl_to_base"] > 0
    plain_records = [json.loads(line) for line in (outs[0.0] / "metrics.jsonl").read_text().splitlines()]
    assert "kl_to_base" not in plain_records[0]
    plain_kl = _trained_kl(tiny_model_dir, outs[0.0] / "adapter", batch)
    penalised_kl = _trained_kl(tiny_model_dir, outs[50.0] / "adapter", batch)
    assert penalised_kl < 0.5 * plain_kl, (penalised_kl, plain_kl)
