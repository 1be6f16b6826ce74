from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import STYLED, scored_turn

from emergent.evaluate import metrics as M

CONTEXTS = list(STYLED)


def _perfect() -> list[dict]:
    return [
        scored_turn(f"{c}/{i}", c, c, response=t, prompt=f"please {c} {i}")
        for c, texts in STYLED.items()
        for i, t in enumerate(texts)
    ]


def test_bootstrap_ci_brackets_the_mean_and_is_deterministic():
    vals = [0.0] * 50 + [1.0] * 50
    a = M.bootstrap(vals, n=500, seed=1)
    assert a == M.bootstrap(vals, n=500, seed=1)
    assert a["mean"] == 0.5 and a["n"] == 100
    lo, hi = a["ci95"]
    assert 0.38 < lo < 0.5 < hi < 0.62  # binomial SE = 0.05 → ±0.1
    assert M.bootstrap([1.0] * 10)["ci95"] == [1.0, 1.0]
    assert M.bootstrap([])["mean"] is None


def test_paired_difference_uses_only_shared_items():
    d = M.paired_difference({"a": 0.0, "b": 0.0, "c": 1.0}, {"a": 1.0, "b": 1.0, "z": 0.0}, n=200)
    assert d["mean"] == 1.0 and d["n"] == 2 and d["ci95"] == [1.0, 1.0]


def test_range_is_one_for_a_perfectly_styled_set_and_zero_when_all_wrong():
    perfect = M.behavioural_range(_perfect(), CONTEXTS, n=200)
    assert perfect["mean"] == 1.0
    assert all(m["mean"] == 1.0 for m in perfect["per_context"].values())
    cm = np.array(perfect["confusion"]["rows_expected_cols_predicted"])
    assert np.trace(cm) == cm.sum() == len(_perfect())
    wrong = [scored_turn(t["id"], t["context"], "factual", response=t["response"]) for t in _perfect()]
    r = M.behavioural_range(wrong, CONTEXTS, n=200)
    assert r["mean"] == 0.0
    cm = r["confusion"]
    assert cm["labels"][-1] == "tool_use" and "factual" in cm["labels"]
    col = cm["labels"].index("factual")
    assert sum(row[col] for row in cm["rows_expected_cols_predicted"]) == len(wrong)


def test_consistency_is_the_minimum_over_turns():
    turns = [
        scored_turn("d1", "empathetic", "empathetic", kind="consistency", turn=0, p_expected=0.9),
        scored_turn("d1", "empathetic", "empathetic", kind="consistency", turn=1, p_expected=0.3),
        scored_turn("d1", "empathetic", "empathetic", kind="consistency", turn=2, p_expected=0.8),
        scored_turn("d2", "technical", "technical", kind="consistency", turn=0, p_expected=0.7),
        scored_turn("d2", "technical", "factual", kind="consistency", turn=1, p_expected=0.5),
    ]
    assert M.consistency_scores(turns) == {"d1": 0.3, "d2": 0.5}
    c = M.consistency(turns, n=200)
    assert c["mean"] == pytest.approx(0.4)
    assert c["all_turns_on_target"]["mean"] == 0.5  # d2 drifted at turn 1


def test_transitions_count_turns_until_the_switch_and_carry_over():
    # Shift at turn 1 from technical to empathetic; the model stays technical one turn, then switches.
    d1 = [
        scored_turn(
            "t1",
            "technical",
            "technical",
            kind="transition",
            turn=0,
            shift_at=1,
            probs={"technical": 0.9, "empathetic": 0.1},
        ),
        scored_turn(
            "t1",
            "empathetic",
            "technical",
            kind="transition",
            turn=1,
            shift_at=1,
            probs={"technical": 0.8, "empathetic": 0.2},
        ),
        scored_turn(
            "t1",
            "empathetic",
            "empathetic",
            kind="transition",
            turn=2,
            shift_at=1,
            probs={"technical": 0.2, "empathetic": 0.8},
        ),
    ]
    # Switches at once.
    d2 = [
        scored_turn("t2", "factual", "factual", kind="transition", turn=0, shift_at=1, probs={"factual": 1.0}),
        scored_turn(
            "t2", "creative", "creative", kind="transition", turn=1, shift_at=1, probs={"factual": 0.0, "creative": 1.0}
        ),
    ]
    # Never switches: censored at the number of turns after the shift.
    d3 = [
        scored_turn("t3", "analytical", "analytical", kind="transition", turn=0, shift_at=1, probs={"analytical": 1.0}),
        scored_turn("t3", "ethical", "analytical", kind="transition", turn=1, shift_at=1, probs={"analytical": 1.0}),
        scored_turn("t3", "ethical", "analytical", kind="transition", turn=2, shift_at=1, probs={"analytical": 1.0}),
    ]
    s = M.transition_scores(d1 + d2 + d3)
    assert s["t1"] == {"turns_to_switch": 1.0, "switched": 1.0, "carry_over": pytest.approx(0.5)}
    assert s["t2"] == {"turns_to_switch": 0.0, "switched": 1.0, "carry_over": 0.0}
    assert s["t3"] == {"turns_to_switch": 2.0, "switched": 0.0, "carry_over": 1.0}
    t = M.transitions(d1 + d2 + d3, n=200)
    assert t["mean"] == 1.0 and t["switched"]["mean"] == pytest.approx(2 / 3, abs=1e-3)


def _many(identical: bool) -> list[dict]:
    out = []
    for c, texts in STYLED.items():
        for rep in range(3):
            for i, t in enumerate(texts):
                resp = "Sure, here is my answer to that." if identical else t
                out.append(scored_turn(f"{c}/{rep}/{i}", c, c, response=resp))
    return out


def test_all_identical_replies_show_collapse_and_styled_ones_do_not():
    collapsed = M.collapse(_many(identical=True), n=200)
    varied = M.collapse(_many(identical=False), n=200)
    cp = collapsed["context_predictability"]
    assert cp["chance"] == 0.25 and cp["folds"] == 5
    assert cp["mean"] <= 0.25  # no signal: at or below chance
    assert varied["context_predictability"]["mean"] >= 0.9
    # The surface metrics on one copy of each reply: identical answers vs twelve different ones.
    same = ["Sure, here is my answer to that."] * 12
    different = [t for texts in STYLED.values() for t in texts]
    assert np.mean(M.self_bleu(same)) > 0.9 > 0.3 > np.mean(M.self_bleu(different))
    assert M.distinct_n(same, 1) < 0.1 < 0.4 < M.distinct_n(different, 1)
    assert M.compression_ratio(same) > 2 * M.compression_ratio(different)
    assert collapsed["self_bleu"]["mean"] > 0.9


def test_distinct_n_and_self_bleu_on_known_text():
    assert M.distinct_n(["a b c d"], 1) == 1.0
    assert M.distinct_n(["a a a a"], 2) == pytest.approx(1 / 3)
    assert M.self_bleu(["the cat sat on the mat"] * 3) == pytest.approx([1.0] * 3)
    assert max(M.self_bleu(["alpha beta gamma delta", "one two three four"])) < 0.1


def test_depth_rewards_longer_answers_to_more_complex_prompts():
    turns, short, long_ = [], "Canberra.", " ".join(["word"] * 120)
    prompts = [
        "Capital of Australia?",
        "Who wrote Emma?",
        "Explain why and compare the pros and cons step by step of three sorting algorithms in detail",
    ]
    for i, p in enumerate(prompts * 3):
        resp = long_ if "Explain" in p else short
        turns.append(scored_turn(f"p{i}", "factual", "factual", response=resp, prompt=p))
    d = M.depth(turns, n=200)
    assert d["mean"] > 0.8 and d["words_complex"] > d["words_simple"]
    flipped = [dict(t, profile={**t["profile"], "words": 200.0 - t["profile"]["words"]}) for t in turns]
    assert M.depth(flipped, n=200)["mean"] < -0.8
