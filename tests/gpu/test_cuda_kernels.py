"""CUDA-only checks (skipped without a GPU; run on the device machine): the flash varlen kernel and
compiled layers give the loss and LoRA gradients of the masked sdpa reference on packed rows, in bf16."""

from __future__ import annotations

import random

import pytest
import torch

from emergent.lm.attention import resolve_attn_implementation
from emergent.lm.loss import PackedLoss
from emergent.lm.packing import collate, pack
from emergent.lm.render import Example
from emergent.train.adapter import add_adapter, compile_layers
from emergent.train.config import PeftSettings

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _batch(vocab: int) -> dict:
    rng = random.Random(0)
    examples = []
    for _ in range(12):
        n = rng.randint(20, 300)
        examples.append(
            Example(input_ids=[rng.randrange(vocab) for _ in range(n)], labels=[False] * 8 + [True] * (n - 8))
        )
    rows = pack([len(e.input_ids) for e in examples], 1024)
    return collate([[examples[i] for i in row] for row in rows], 0)


def _loss_and_grads(attn: str, compiled: bool, batch: dict):
    from transformers import AutoModelForCausalLM, LlamaConfig

    device = torch.device("cuda")
    config = LlamaConfig(
        hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
        vocab_size=1000, max_position_embeddings=2048, use_cache=False,
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        base = AutoModelForCausalLM.from_config(
            config, dtype=torch.bfloat16, attn_implementation=resolve_attn_implementation(attn, device)
        )
    model = add_adapter(base, PeftSettings(lora_dropout=0.0), "tiny")
    for p in model.parameters():  # LoRA B starts at zero; move it so every LoRA gradient is non-trivial
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.02)
    if compiled:
        compile_layers(model)
    args = [batch[k].to(device) for k in ("input_ids", "position_ids", "targets", "cu_seqlens")]
    total, n = PackedLoss(model)(*args, batch["max_seqlen"])
    (total / n).backward()
    grads = torch.cat([p.grad.float().flatten() for p in model.parameters() if p.requires_grad])
    return float(total / n), grads


@pytest.mark.parametrize(("attn", "compiled"), [("varlen", False), ("varlen", True), ("sdpa", True)])
def test_cuda_kernels_match_masked_sdpa(attn, compiled):
    batch = _batch(1000)
    ref_loss, ref_grads = _loss_and_grads("sdpa", False, batch)
    loss, grads = _loss_and_grads(attn, compiled, batch)
    assert abs(loss - ref_loss) < 2e-2 * abs(ref_loss)
    cos = torch.nn.functional.cosine_similarity(grads, ref_grads, dim=0)
    assert cos > 0.99, f"{attn} compiled={compiled}: gradient cosine {cos:.4f} vs sdpa"
