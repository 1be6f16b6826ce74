"""Packing: rows fit, packed loss equals unpacked loss, and attention never crosses conversations."""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from transformers import AutoTokenizer

from emergent.lm.config import ModelConfig
from emergent.lm.loading import load_model
from emergent.lm.loss import PackedLoss
from emergent.lm.packing import IGNORE, collate, pack
from emergent.lm.render import encode
from train.conftest import conversations


@pytest.fixture(scope="module")
def model_and_examples(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = load_model(ModelConfig(name=str(tiny_model_dir)), "fp32").eval()
    examples = [encode(c, tok) for c in conversations(6)]
    return model, examples, tok.pad_token_id


def test_pack_fits_and_uses_every_example_once():
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(500)]
    bins = pack(lengths, 512)
    assert sorted(i for b in bins for i in b) == list(range(500))
    assert all(sum(lengths[i] for i in b) <= 512 for b in bins)
    assert sum(lengths) / (512 * len(bins)) > 0.9  # best-fit decreasing leaves little empty space


def test_load_model_turns_the_cache_off(model_and_examples):
    model, _, _ = model_and_examples
    # With a cache object transformers skips packed-sequence detection and rows leak (docs/design.md).
    assert model.config.use_cache is False


def test_packed_loss_equals_unpacked_loss(model_and_examples):
    model, examples, pad = model_and_examples
    loss = PackedLoss(model)
    with torch.no_grad():
        packed_sum, packed_n = loss(**_inputs(collate([examples[:3], examples[3:]], pad)))
        parts = [loss(**_inputs(collate([[e]], pad))) for e in examples]
        padded_sum, padded_n = loss(**_inputs(collate([[e] for e in examples], pad)))
    alone_sum = sum(p[0] for p in parts)
    alone_n = sum(p[1] for p in parts)
    assert packed_n == alone_n == padded_n == sum(e.loss_tokens for e in examples)
    torch.testing.assert_close(packed_sum / packed_n, alone_sum / alone_n, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(padded_sum / padded_n, alone_sum / alone_n, rtol=1e-5, atol=1e-5)


def test_a_flat_micro_batch_holds_the_rows_without_padding_and_gives_the_same_loss(model_and_examples):
    model, examples, pad = model_and_examples
    rows = [examples[:2], examples[2:3], examples[3:]]  # unevenly filled: the padded batch has pads
    padded, flat = collate(rows, pad), collate(rows, pad, flat=True)
    lengths = [len(e.input_ids) for e in examples]
    assert flat["input_ids"].shape == (1, sum(lengths)) and padded["input_ids"].numel() > sum(lengths)
    assert int(flat["real_tokens"]) == int(padded["real_tokens"]) == sum(lengths)
    assert flat["cu_seqlens"].tolist() == [0, *itertools.accumulate(lengths)]
    assert flat["max_seqlen"] == max(lengths)
    keys = ("input_ids", "position_ids", "targets", "cu_seqlens", "max_seqlen")
    loss = PackedLoss(model)
    with torch.no_grad():
        flat_sum, flat_n = loss(**{k: flat[k] for k in keys})
        padded_sum, padded_n = loss(**{k: padded[k] for k in keys})
    assert flat_n == padded_n
    torch.testing.assert_close(flat_sum, padded_sum, rtol=1e-5, atol=1e-4)


def test_attention_is_isolated_between_packed_conversations(model_and_examples):
    model, examples, pad = model_and_examples
    a, b = examples[0], examples[1]
    row = collate([[a, b]], pad)
    with torch.no_grad():
        packed = model(input_ids=row["input_ids"], position_ids=row["position_ids"], use_cache=False).logits
        alone = model(input_ids=torch.tensor([b.input_ids]), use_cache=False).logits
        # The control shows the check can fail: without restarted positions b attends to a.
        leaky = model(input_ids=row["input_ids"], use_cache=False).logits
    n = len(a.input_ids)
    torch.testing.assert_close(packed[0, n:], alone[0], rtol=1e-5, atol=1e-5)
    assert (leaky[0, n:] - alone[0]).abs().max() > 1e-3


def test_targets_never_cross_conversations(model_and_examples):
    _, examples, pad = model_and_examples
    a, b = examples[0], examples[1]
    row = collate([[a, b]], pad)
    n = len(a.input_ids)
    assert row["targets"][0, n - 1] == IGNORE  # a's last token does not predict b's first
    assert row["position_ids"][0, n] == 0


def _inputs(batch: dict) -> dict:
    return {k: batch[k] for k in ("input_ids", "position_ids", "targets")}
