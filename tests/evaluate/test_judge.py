from __future__ import annotations

import json

import pytest
from mock_openai import mock_server

from emergent.evaluate.config import JudgeConfig
from emergent.evaluate.judge import (
    Judge,
    JudgeItem,
    judge_items,
    length_controlled,
    pairwise_prompt,
    parse_score,
    parse_verdict,
    sample,
)
from emergent.evaluate.suite import load_suite

KEY = "sk-test-secret-123"


def _item(i: str, context: str, base: str, adapter: str, prompt: str = "q", **more: str) -> JudgeItem:
    replies = {"base": [base], "adapter": [adapter], **{k: [v] for k, v in more.items()}}
    return JudgeItem(id=i, kind="prompt", context=context, turns=[prompt], replies=replies)


def _judge_reply(payload: dict) -> dict:
    """A judge that likes replies containing GOOD, is position-biased on BIASED, and rambles on GARBLED.

    It gives a reason first and quotes the instruction, so only the last verdict line may count.
    """
    text = payload["messages"][0]["content"]
    if "GARBLED" in text:
        return {"content": "I cannot decide, both have merit."}
    if text.startswith("Rate"):
        reply = text.split("[Reply]")[1]
        score = 5 if "GOOD" in reply else 2
        return {"content": f"Answer format is 'Score: 1'. The reply is fine.\nScore: {score}"}
    if "BIASED" in text:
        return {"content": "The first is better.\nWinner: A"}
    a = text.split("[Reply A]")[1].split("[Reply B]")[0]
    return {"content": f"Not 'Winner: tie': one is better.\nWinner: {'A' if 'GOOD' in a else 'B'}"}


def test_parsers_take_the_last_verdict_after_a_reason():
    assert parse_score("Score: 4") == 4
    assert parse_score("score=5\n") == 5 and parse_score("3") == 3 and parse_score("no idea") is None
    assert parse_score("Format 'Score: 1'. Good tone.\n**Score: 4**") == 4
    assert parse_verdict("Winner: B") == "B" and parse_verdict("winner: tie") == "tie" and parse_verdict("hmm") is None
    assert parse_verdict("A is vague, B answers it. Winner: A was wrong...\nWinner: B") == "B"


def test_sample_is_stratified_seeded_even_and_reaches_every_context():
    items = [_item(f"p{c}{i}", c, "b", "a") for c in "xyz" for i in range(10)]
    items += [
        JudgeItem(f"d{c}{i}", "memory", c, ["t1", "t2"], {"base": ["b", "b"], "adapter": ["a", "a"]})
        for c in "xy"
        for i in range(2)
    ]
    chosen, rec = sample(items, 11, seed=3)
    assert len(chosen) == 11 and rec["sampled"] == 11 and rec["available"] == 34
    counts = {s: len(v["ids"]) for s, v in rec["strata"].items()}
    # 5 strata: the two 2-item dialogue strata are exhausted, the rest of the budget is spread evenly.
    assert counts["x/dialogue"] == counts["y/dialogue"] == 2
    assert sum(counts.values()) == 11 and max(counts.values()) - min(counts.values()) <= 1
    assert {it.id for it in chosen} == {i for v in rec["strata"].values() for i in v["ids"]}
    assert [it.id for it in sample(items, 11, seed=3)[0]] == [it.id for it in chosen]  # seeded
    assert {it.id for it in sample(items, 11, seed=4)[0]} != {it.id for it in chosen}
    # A budget of one item per context reaches every context.
    few, _ = sample(items, 3, seed=0)
    assert sorted(it.context for it in few) == ["x", "y", "z"]
    everything, rec = sample(items, 1000, seed=0)
    assert len(everything) == len(items) and sorted(rec["strata"]["y/dialogue"]["ids"]) == ["dy0", "dy1"]


def test_judge_items_from_the_suite_and_generation_rows():
    suite = load_suite(["default"], dialogues_per_kind=1, prompts_per_context=1)
    rows = {
        side: [
            {"id": it.id, "turn": t, "response": f"{side} reply {t} to {it.id}"}
            for it in suite.items
            for t in range(len(it.turns))
        ]
        for side in ("base", "adapter")
    }
    rows["adapter"] = [r for r in rows["adapter"] if r["id"] != suite.prompts[0].id]  # not answered: left out
    out = judge_items(suite.items, rows, ["adapter", "base"])
    assert len(out) == len(suite.items) - 1
    dialogue = next(it for it in out if it.kind == "memory")
    assert dialogue.stratum.endswith("/dialogue") and len(dialogue.replies["adapter"]) == len(dialogue.turns)
    prompt = pairwise_prompt(dialogue, "base", "adapter")
    for t, user in enumerate(dialogue.turns):  # the whole conversation, both sides' histories
        assert user in prompt and f"adapter reply {t} to {dialogue.id}" in prompt


def test_judge_against_a_mock_server_both_orders_ties_and_biases(monkeypatch, capsys):
    monkeypatch.setenv("EMERGENT_TEST_JUDGE_KEY", KEY)
    long_reply = "a GOOD long answer " + "word " * 2000  # judged in full, never cut
    items = [
        _item("1", "technical", "short", long_reply, "q1"),
        _item("2", "empathetic", "meh", "a GOOD caring reply", "q2"),
        _item("3", "creative", "x", "GOOD story here", "BIASED q3"),
        _item("4", "factual", "y", "GOOD", "GARBLED q4"),
    ]
    with mock_server(_judge_reply) as (url, seen):
        cfg = JudgeConfig(
            enabled=True, base_url=url, model="judge-1", api_key_env="EMERGENT_TEST_JUDGE_KEY", max_tokens=77
        )
        result = Judge(cfg).run(items, n_boot=200)
    assert len(seen) == 4 * 2 + 4 * 2  # rubric for both sides + pairwise in both orders
    assert all(s["auth"] == f"Bearer {KEY}" and s["path"] == "/v1/chat/completions" for s in seen)
    assert all(s["payload"]["max_tokens"] == 77 for s in seen)
    assert sum(long_reply in s["payload"]["messages"][0]["content"] for s in seen) == 1 + 2  # rubric + both orders
    assert result["pair"] == ["adapter", "base"] and result["items"] == 4
    assert result["parse_rate"] == 0.75  # the GARBLED item's 4 calls did not parse
    assert result["calls"]["pairwise"] == {"asked": 8, "failed": 0, "parsed": 6}
    assert result["unparsed_examples"][0].startswith("I cannot decide")
    assert result["rubric_adapter"]["mean"] == 5.0 and result["rubric_base"]["mean"] == 2.0
    # Items 1, 2 won by the adapter in both orders; item 3 flipped with position → tie.
    assert result["win_rate"]["mean"] == pytest.approx(2.5 / 3, abs=1e-3) and result["win_rate"]["n"] == 3
    assert len(result["win_rate"]["ci95"]) == 2
    assert result["flip_rate"]["mean"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["p_prefers_longer"]["mean"] == 1.0
    lc = result["length_controlled_win_rate"]
    assert 0.5 < lc["mean"] <= 1.0 and lc["ci95"][0] <= lc["mean"] <= lc["ci95"][1] and lc["n"] == 3
    assert result["per_context"]["technical"] == {"mean": 1.0, "ci95": [1.0, 1.0], "n": 1}
    assert result["per_context"]["creative"]["mean"] == 0.5 and "factual" not in result["per_context"]
    assert set(result["sampling"]["strata"]) == {
        f"{c}/prompt" for c in ("technical", "empathetic", "creative", "factual")
    }
    by_id = {v["id"]: v for v in result["verdicts"]}
    assert by_id["3"]["verdicts"] == ["A", "A"] and by_id["3"]["winner"] == "tie" and "winner" not in by_id["4"]
    assert KEY not in json.dumps(result) and KEY not in capsys.readouterr().out


def test_the_pair_is_configurable_and_its_order_decides_the_sign():
    items = [_item(str(i), "factual", "BASE REPLY", "a GOOD one", prompted="plain") for i in range(4)]
    with mock_server(_judge_reply) as (url, seen):
        up = Judge(JudgeConfig(enabled=True, base_url=url, pair=["adapter", "prompted"])).run(items, n_boot=100)
        down = Judge(JudgeConfig(enabled=True, base_url=url, pair=["prompted", "adapter"])).run(items, n_boot=100)
    assert up["pair"] == ["adapter", "prompted"] and up["win_rate"]["mean"] == 1.0
    assert down["win_rate"]["mean"] == 0.0 and "rubric_prompted" in down and "rubric_base" not in down
    assert not any("BASE REPLY" in s["payload"]["messages"][0]["content"] for s in seen)  # base is not asked about


def test_length_controlled_win_rate_removes_a_pure_length_preference():
    # The first side is longer in 30 of 40 items and wins exactly when it is longer, by a length-blind margin.
    diffs = [d for i in range(40) for d in [(5 + i % 7) if i < 30 else -(5 + i % 7)]]
    outcomes = [1.0 if d > 0 else 0.0 for d in diffs]
    lc = length_controlled(outcomes, diffs, 300, 0)
    assert lc["mean"] < 0.75 - 0.05 and lc["ci95"][0] < lc["mean"] < lc["ci95"][1]
    # Wins unrelated to length: the estimate stays at the raw rate; ties count half.
    assert length_controlled([1.0, 0.0, 1.0, 0.0], [3, 3, -3, -3], 100)["mean"] == pytest.approx(0.5, abs=1e-3)
    assert length_controlled([0.5, 0.5], [1, 9], 100)["mean"] == 0.5
    assert length_controlled([], [], 100)["mean"] is None


def test_an_unreachable_judge_counts_as_failed_not_a_crash():
    cfg = JudgeConfig(enabled=True, base_url="http://127.0.0.1:9/v1", timeout_s=2, api_key_env="NOPE_NOT_SET")
    r = Judge(cfg).run([_item("1", "factual", "a", "b")], n_boot=100)
    assert r["parse_rate"] == 0.0 and r["win_rate"]["mean"] is None and r["length_controlled_win_rate"]["n"] == 0
    assert r["calls"]["rubric"]["failed"] == 2 and "cannot reach the server" in r["errors"][0]
