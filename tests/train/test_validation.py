"""Held-out loss per conversation: packed, flat (varlen) and sharded scoring equal one plain forward each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emergent.data.store import write_conversations
from emergent.lm.loss import PackedLoss
from emergent.lm.scoring import conversation_losses, summarise
from emergent.train.validation import load_validation
from reference_losses import plain_losses

from .conftest import conversations


@pytest.fixture(scope="module")
def scored(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tmp_path_factory.mktemp("val") / "validation.parquet"
    write_conversations(conversations(11, offset=500), path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    data = load_validation(path, tokenizer, max_seq_len=192)
    plain = np.stack(plain_losses(model, data.examples), axis=1)  # one plain forward per conversation
    return {"model": model, "data": data, "plain": plain, "path": path, "tokenizer": tokenizer}


@pytest.mark.parametrize("batch_size", [1, 3])
def test_packed_losses_equal_one_plain_forward_per_conversation(scored, batch_size):
    data = scored["data"]
    assert any(len(row) > 1 for row in data.rows)  # several conversations share a row
    sums, counts = conversation_losses(PackedLoss(scored["model"]), data, batch_size, 0, torch.device("cpu"))
    np.testing.assert_allclose(sums, scored["plain"][:, 0], rtol=1e-5)
    np.testing.assert_array_equal(counts, scored["plain"][:, 1])


def test_varlen_flat_rows_give_the_same_losses(scored, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from emergent.lm.attention import VARLEN, register_varlen

    register_varlen()
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=VARLEN).eval()
    sums, counts = conversation_losses(PackedLoss(model), scored["data"], 2, 0, torch.device("cpu"), flat=True)
    np.testing.assert_allclose(sums, scored["plain"][:, 0], rtol=1e-5)
    np.testing.assert_array_equal(counts, scored["plain"][:, 1])


@pytest.mark.parametrize("world", [2, 3])
def test_shares_of_several_processes_add_up_to_the_whole(scored, world):
    """Each process scores its share (the last ones a repeated batch they discard); summed, the vectors
    equal one process's — and every process made the same number of forwards."""
    module = PackedLoss(scored["model"])
    calls = []
    original = module.forward
    parts = []
    for rank in range(world):
        calls.append(0)

        def counted(*args, _rank=rank, **kwargs):
            calls[_rank] += 1
            return original(*args, **kwargs)

        module.forward = counted
        parts.append(conversation_losses(module, scored["data"], 1, 0, torch.device("cpu"), rank=rank, world=world))
    assert len(set(calls)) == 1
    np.testing.assert_allclose(sum(p[0] for p in parts), scored["plain"][:, 0], rtol=1e-5)
    np.testing.assert_array_equal(sum(p[1] for p in parts), scored["plain"][:, 1])


def test_scoring_runs_without_dropout_and_restores_training_mode(scored):
    module = PackedLoss(scored["model"]).train()
    seen = []
    original = module.forward
    module.forward = lambda *a, **k: (seen.append(module.training), original(*a, **k))[1]
    conversation_losses(module, scored["data"], 4, 0, torch.device("cpu"))
    assert seen and not any(seen) and module.training


def test_summary_is_per_token_overall_and_per_bucket(scored):
    data, plain = scored["data"], scored["plain"]
    s = summarise(data, plain[:, 0], plain[:, 1])
    assert s["loss"] == pytest.approx(plain[:, 0].sum() / plain[:, 1].sum(), rel=1e-6)
    cats = np.array(data.categories)
    for cat, loss in s["by_category"].items():
        assert loss == pytest.approx(plain[cats == cat, 0].sum() / plain[cats == cat, 1].sum(), rel=1e-5)
    assert s["examples"] == 11 and s["loss_tokens"] == plain[:, 1].sum()


def test_rows_never_mix_buckets_and_a_limit_keeps_every_bucket(scored):
    data = scored["data"]
    for row in data.rows:
        assert len({data.categories[i] for i in row}) == 1
    assert sorted(i for row in data.rows for i in row) == list(range(len(data.examples)))
    limited = load_validation(scored["path"], scored["tokenizer"], 192, max_examples=4)
    assert len(limited.examples) == 4 and set(limited.categories) == set(data.categories)


def test_a_missing_file_or_no_scorable_conversation_gives_none(scored, tmp_path):
    assert load_validation(tmp_path / "none.parquet", scored["tokenizer"], 192) is None
    # Truncated to 8 tokens, no conversation keeps an assistant token.
    assert load_validation(scored["path"], scored["tokenizer"], 8) is None


def test_without_packing_padded_rows_give_the_same_losses(scored):
    """training.packing: false scores one conversation per row, rows padded to the longest in a batch."""
    data = load_validation(scored["path"], scored["tokenizer"], 192, packing=False)
    assert all(len(row) == 1 for row in data.rows)
    sums, counts = conversation_losses(PackedLoss(scored["model"]), data, 3, 0, torch.device("cpu"))
    # load_validation orders by bucket: compare through the examples' own plain losses.
    reference = plain_losses(scored["model"], data.examples)
    np.testing.assert_allclose(sums, reference[0], rtol=1e-5)
    np.testing.assert_array_equal(counts, reference[1])
