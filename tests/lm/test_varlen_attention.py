"""Varlen attention: packed rows through cu_seqlens give the same loss as the masked sdpa path.

On CPU the attention function runs SDPA per conversation (the reference the CUDA flash kernel is
checked against on a GPU machine, tests/gpu/test_cuda_kernels.py); this proves the plumbing: the collator's
cu_seqlens, the [batch, seq, heads, dim] layout, grouped-query heads and the keyword path through
transformers to every layer.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from emergent.lm.attention import VARLEN, cu_seqlens_from_positions, resolve_attn_implementation
from emergent.lm.config import ModelConfig
from emergent.lm.loading import load_model
from emergent.lm.loss import PackedLoss
from emergent.lm.packing import collate
from emergent.lm.render import encode
from emergent.train.adapter import add_adapter, compile_layers, use_training_fast_paths
from emergent.train.config import PeftSettings
from train.conftest import conversations


@pytest.fixture(scope="module")
def setup(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = [encode(c, tok) for c in conversations(7)]
    sdpa = load_model(ModelConfig(name=str(tiny_model_dir), attn_implementation="sdpa"), "fp32").eval()
    varlen = load_model(ModelConfig(name=str(tiny_model_dir), attn_implementation="varlen"), "fp32").eval()
    return sdpa, varlen, examples, tok.pad_token_id


def test_auto_is_varlen_on_cpu_and_varlen_registers():
    assert resolve_attn_implementation("auto", torch.device("cpu")) == VARLEN
    assert resolve_attn_implementation("varlen", torch.device("cpu")) == VARLEN
    assert resolve_attn_implementation("eager", torch.device("cpu")) == "eager"


def test_collate_cu_seqlens_mark_every_conversation_and_the_padding(setup):
    _, _, ex, pad = setup
    batch = collate([ex[:3], ex[3:4]], pad)
    width = batch["input_ids"].shape[1]
    lens = [len(e.input_ids) for e in ex[:4]]
    expected = [0, lens[0], lens[0] + lens[1], width]  # row 0 is the widest: no padding
    expected += [width + lens[3]] + ([2 * width] if lens[3] < width else [])
    assert batch["cu_seqlens"].tolist() == expected
    assert batch["max_seqlen"] == max(lens + [width - lens[3]])
    # The fallback derives the same boundaries from the restarted position ids.
    cu, longest = cu_seqlens_from_positions(batch["position_ids"])
    assert cu.tolist() == expected and longest == batch["max_seqlen"]


def test_varlen_loss_equals_masked_sdpa_loss(setup):
    sdpa, varlen, ex, pad = setup
    assert (
        varlen.config._attn_implementation == VARLEN
        and varlen.config.num_key_value_heads < varlen.config.num_attention_heads
    )
    batch = collate([ex[:3], ex[3:5], ex[5:]], pad)
    args = (batch["input_ids"], batch["position_ids"], batch["targets"])
    with torch.no_grad():
        ref_sum, ref_n = PackedLoss(sdpa)(*args)
        got_sum, got_n = PackedLoss(varlen)(*args, batch["cu_seqlens"], batch["max_seqlen"])
        # Without cu_seqlens the boundaries come from the position ids.
        fallback_sum, _ = PackedLoss(varlen)(*args)
    assert got_n == ref_n
    torch.testing.assert_close(got_sum, ref_sum, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(fallback_sum, ref_sum, rtol=1e-5, atol=1e-4)


def test_varlen_boundaries_matter(setup):
    # The control: one boundary moved changes the loss, so the equality above can fail.
    _, varlen, ex, pad = setup
    batch = collate([ex[:3]], pad)
    cu = batch["cu_seqlens"].clone()
    cu[1] += 5
    args = (batch["input_ids"], batch["position_ids"], batch["targets"])
    with torch.no_grad():
        right, _ = PackedLoss(varlen)(*args, batch["cu_seqlens"], batch["max_seqlen"])
        wrong, _ = PackedLoss(varlen)(*args, cu, batch["max_seqlen"] + 5)
    assert abs(float(right - wrong)) > 1e-3


def test_compiled_layers_give_the_same_gradients(tiny_model_dir, setup):
    _, _, ex, pad = setup
    batch = collate([ex[:3], ex[3:]], pad)
    grads = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = add_adapter(
            load_model(ModelConfig(name=str(tiny_model_dir)), "fp32"), PeftSettings(lora_dropout=0.0), "tiny"
        )
        use_training_fast_paths(model, autocast=False)  # as the trainer does, so dynamo traces them too
        if compiled:
            assert compile_layers(model) == model.config.num_hidden_layers
        total, n = PackedLoss(model)(batch["input_ids"], batch["position_ids"], batch["targets"])
        (total / n).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-5)


# (query block, longest sequence whose probabilities are kept): the defaults; many uneven blocks;
# blocks whose probabilities are recomputed in backward.
@pytest.mark.parametrize("block,saved_max", [(256, 1024), (7, 1024), (8, 8)])
def test_cpu_varlen_gradients_equal_masked_sdpa_gradients(tiny_model_dir, setup, monkeypatch, block, saved_max):
    from emergent.lm import cpu_attention

    monkeypatch.setattr(cpu_attention, "QUERY_BLOCK", block)
    monkeypatch.setattr(cpu_attention, "SAVED_MAX_LEN", saved_max)
    _, _, ex, pad = setup
    batch = collate([ex[:3], ex[3:5], ex[5:]], pad)
    grads = []
    for attn in ("sdpa", "varlen"):
        torch.manual_seed(0)
        model = add_adapter(
            load_model(ModelConfig(name=str(tiny_model_dir), attn_implementation=attn), "fp32"),
            PeftSettings(lora_dropout=0.0),
            "tiny",
        )
        for p in model.parameters():  # non-zero B: gradients reach every adapter matrix
            if p.requires_grad:
                torch.nn.init.normal_(p, std=0.05)
        extra = (batch["cu_seqlens"], batch["max_seqlen"]) if attn == "varlen" else ()
        total, n = PackedLoss(model)(batch["input_ids"], batch["position_ids"], batch["targets"], *extra)
        (total / n).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
