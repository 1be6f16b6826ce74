from __future__ import annotations

import json

import pytest
from mock_openai import mock_server

from emergent.evaluate.config import JudgeConfig
from emergent.evaluate.judge import Judge, parse_score, parse_verdict

KEY = "sk-test-secret-123"


def _judge_reply(payload: dict) -> dict:
    """A judge that likes replies containing GOOD, is position-biased on BIASED, and rambles on GARBLED."""
    text = payload["messages"][0]["content"]
    if "GARBLED" in text:
        return {"content": "I cannot decide, both have merit."}
    if text.startswith("Rate"):
        reply = text.split("[Reply]")[1]
        return {"content": "Score: 5" if "GOOD" in reply else "Score: 2"}
    if "BIASED" in text:
        return {"content": "Winner: A"}
    a = text.split("[Reply A]")[1].split("[Reply B]")[0]
    return {"content": "Winner: A" if "GOOD" in a else "Winner: B"}


def test_parsers():
    assert parse_score("Score: 4") == 4
    assert parse_score("score=5\n") == 5 and parse_score("3") == 3 and parse_score("no idea") is None
    assert parse_verdict("Winner: B") == "B" and parse_verdict("winner: tie") == "tie" and parse_verdict("hmm") is None


def test_judge_against_a_mock_server_both_orders_ties_and_biases(monkeypatch, capsys):
    monkeypatch.setenv("EMERGENT_TEST_JUDGE_KEY", KEY)
    items = [
        {"id": "1", "context": "technical", "prompt": "q1", "base": "short", "adapter": "a GOOD long answer"},
        {"id": "2", "context": "empathetic", "prompt": "q2", "base": "meh", "adapter": "a GOOD caring reply"},
        {"id": "3", "context": "creative", "prompt": "BIASED q3", "base": "x", "adapter": "GOOD story here"},
        {"id": "4", "context": "factual", "prompt": "GARBLED q4", "base": "y", "adapter": "GOOD"},
    ]
    with mock_server(_judge_reply) as (url, seen):
        cfg = JudgeConfig(enabled=True, base_url=url, model="judge-1", api_key_env="EMERGENT_TEST_JUDGE_KEY")
        result = Judge(cfg).run(items, n_boot=200)
    assert len(seen) == 4 * 2 + 4 * 2  # rubric for both sides + pairwise in both orders
    assert all(s["auth"] == f"Bearer {KEY}" and s["path"] == "/v1/chat/completions" for s in seen)
    assert result["parse_rate"] == 0.75  # the GARBLED item's 4 calls did not parse
    assert result["rubric_adapter"]["mean"] == 5.0 and result["rubric_base"]["mean"] == 2.0
    # Items 1, 2 won by the adapter in both orders; item 3 flipped with position → tie.
    assert result["win_rate_adapter"]["mean"] == pytest.approx(2.5 / 3, abs=1e-3)
    assert result["flip_rate"]["mean"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["p_prefers_longer"]["mean"] == 1.0
    assert 0.5 < result["length_controlled_win_rate"] <= 1.0
    assert KEY not in json.dumps(result) and KEY not in capsys.readouterr().out


def test_an_unreachable_judge_counts_as_unparsed_not_a_crash():
    cfg = JudgeConfig(enabled=True, base_url="http://127.0.0.1:9/v1", timeout_s=2, api_key_env="NOPE_NOT_SET")
    r = Judge(cfg).run([{"id": "1", "context": "factual", "prompt": "q", "base": "a", "adapter": "b"}], n_boot=100)
    assert r["parse_rate"] == 0.0 and r["win_rate_adapter"]["mean"] is None
