"""A phase's running statistics: the checkpoint round trip and phase.json's keys, which the report and
--resume read."""

from __future__ import annotations

import json

import pytest

from emergent.config import Phase
from emergent.train.data import PhaseData
from emergent.train.phase_stats import PhaseStats

PHASE_JSON_KEYS = [
    "name", "categories", "learning_rate", "steps", "examples", "examples_by_category", "rows", "truncated",
    "dropped", "tokens", "loss_tokens", "loss_first", "loss_last", "loss_mean", "seconds", "tokens_per_s",
    "validation_loss", "validation_by_category",
]  # fmt: skip


def _data() -> PhaseData:
    return PhaseData(examples=[object()] * 3, rows=[[0, 1], [2]], categories={"technical": 3}, truncated=0, dropped={})


def test_steps_add_up_to_a_token_weighted_phase_mean():
    stats = PhaseStats()
    assert stats.add_step(tokens=10, loss_tokens=4, loss_sum=8.0, seconds=0.5) == 2.0
    assert stats.add_step(tokens=20, loss_tokens=6, loss_sum=6.0, seconds=1.5) == 1.0
    assert (stats.loss_first, stats.loss_last, stats.tokens, stats.loss_tokens) == (2.0, 1.0, 30, 10)
    assert stats.loss_mean == pytest.approx(14.0 / 10)


def test_a_checkpoint_round_trips_and_an_old_one_has_no_phase_mean():
    stats = PhaseStats()
    stats.add_step(tokens=10, loss_tokens=4, loss_sum=8.0, seconds=0.5)
    saved = json.loads(json.dumps(stats.to_checkpoint()))
    assert list(saved) == ["tokens", "loss_tokens", "loss_sum", "loss_first", "loss_last", "seconds"]
    assert PhaseStats.from_checkpoint(saved) == stats
    del saved["loss_sum"]  # written before the phase mean existed
    old = PhaseStats.from_checkpoint(saved)
    old.add_step(tokens=5, loss_tokens=2, loss_sum=2.0, seconds=0.5)
    assert old.loss_sum is None and old.loss_mean is None and old.loss_last == 1.0


def test_phase_json_keeps_its_keys():
    stats = PhaseStats()
    stats.add_step(tokens=10, loss_tokens=4, loss_sum=8.0, seconds=0.5)
    phase = Phase.model_construct(name="mixed_no_curriculum", categories=[], learning_rate=1e-3)
    summary = stats.summary(phase, _data(), 7, 1e-3, {"loss": 1.5, "by_category": {"technical": 1.5}})
    assert list(summary) == PHASE_JSON_KEYS
    assert summary["categories"] == ["technical"] and summary["rows"] == 2 and summary["tokens_per_s"] == 20.0
    assert stats.summary(phase, _data(), 7, 1e-3, None)["validation_loss"] is None
