"""Checked dialogues: the item files, what the judged turns depend on, the no-history control and the metrics."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from controls import RememberingGenerator, dialogue_generations

from emergent.evaluate.checks.text import mentions
from emergent.evaluate.dialogue import HISTORY_KINDS, dialogues, verdicts
from emergent.evaluate.generate import run_items
from emergent.evaluate.suite import DIALOGUE_KINDS, Item, load_suite

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "emergent" / "data" / "sample"


@pytest.fixture(scope="module")
def suite():
    return load_suite(["default"])


def _judged(d: Item) -> list[int]:
    return [t for t, c in enumerate(d.turn_checks) if c]


def test_every_kind_ships_30_or_more_dialogues_with_a_reply_that_passes(suite):
    counts = Counter(d.kind for d in suite.dialogues)
    assert set(counts) == set(DIALOGUE_KINDS) and min(counts.values()) >= 30, counts
    assert len({d.id for d in suite.items}) == len(suite.items)
    assert not any(d.checks for d in suite.dialogues)  # kept out of the primary metric
    for d in suite.dialogues:
        assert len(d.turns) == len(d.turn_checks) == len(d.references) == len(d.contexts) >= 2
        assert _judged(d) and (d.kind == "retest") == (len(_judged(d)) == 2)
    rows = dialogue_generations(suite.dialogues, lambda it, t: it.references[t])
    v = verdicts(suite.items, rows)
    assert all(x["passed"] for x in v.values()), [i for i, x in v.items() if not x["passed"]]
    # IFEval has no gold replies: those conditioned items are left out, not failed.
    no_ref = {d.id for d in suite.dialogues if any(d.references[t] is None for t in _judged(d))}
    assert set(v) == {d.id for d in suite.dialogues} - no_ref and all("instructional" in i for i in no_ref)


def test_the_judged_turn_alone_lacks_what_it_depends_on(suite):
    """The no-history control loses on these kinds by construction, not by chance."""
    for d in (d for d in suite.dialogues if d.kind in HISTORY_KINDS):
        (t,) = _judged(d)
        alone = d.turns[t]
        for c in d.turn_checks[t]:
            if c["type"] == "final_number":
                assert not re.search(r"\d", alone), (d.id, alone)  # every number is in an earlier turn
                assert c["answer"] not in " ".join(d.turns), d.id  # echoing the facts gives no answer
            if c["type"] == "mentions":
                assert not any(mentions(alone, [g]).passed for g in c["groups"]), (d.id, alone)
                assert all(mentions(d.turns[0], [g]).passed for g in c["groups"]), d.id


def test_conditioned_items_re_ask_a_shipped_item_after_turns_in_another_register(suite):
    prompts = {p.id: p for p in suite.prompts}
    cond = [d for d in suite.dialogues if d.kind == "conditioned"]
    assert Counter(prompts[d.meta["fresh_id"]].contexts[0] for d in cond) == {
        "analytical": 9, "technical": 9, "tool_use": 9, "instructional": 9
    }  # fmt: skip
    first = load_suite(["default"], prompts_per_context=9)
    kept = {p.id for p in first.prompts}
    for d in cond:
        twin = prompts[d.meta["fresh_id"]]
        assert d.turns[-1] == twin.turns[0] and d.turn_checks[-1] == twin.checks and d.tools == twin.tools
        assert d.references[-1] == twin.reference and twin.id in kept  # a prompts_per_context of 9 keeps twins
        assert d.contexts[:-1] == ["conversational", "ethical"] and d.contexts[-1] == twin.contexts[0]
    small = load_suite(["default"], prompts_per_context=3, dialogues_per_kind=12)  # round-robin over sources
    assert {d.meta["fresh_id"] for d in small.dialogues if d.kind == "conditioned"} <= {p.id for p in small.prompts}
    retest = [d for d in suite.dialogues if d.kind == "retest"]
    assert all(d.turns[0] == d.turns[-1] == prompts[d.meta["fresh_id"]].turns[0] for d in retest)


def test_dialogue_items_share_no_record_with_the_training_sample(suite):
    gsm8k_train = {json.loads(x)["question"] for x in (SAMPLE / "gsm8k" / "train.jsonl").read_text().splitlines() if x}
    analytical = {p.turns[0] for p in suite.prompts if p.contexts[0] == "analytical"}
    from_gsm8k = [d for d in suite.dialogues if d.id.split("/")[1].startswith("gsm8k-test-")]
    assert len(from_gsm8k) >= 36
    for d in from_gsm8k:
        assert d.meta["source"].startswith("gsm8k test.jsonl line ")
        line = int(d.meta["source"].rsplit(" ", 1)[1])
        assert line > 60 and not any(q[:60] in t for q in gsm8k_train for t in d.turns)
        assert d.turns[0] not in analytical
    assert {d.meta["source"] for d in suite.dialogues if d.kind in ("topic_return", "retest")} == {"written"}
    sources = (ROOT / "src/emergent/evaluate/items/SOURCES.md").read_text()
    assert all(f"dialogues/{k}.jsonl" in sources for k in DIALOGUE_KINDS)


def test_a_model_that_uses_the_history_beats_itself_without_it(suite):
    twins = {d.meta["fresh_id"] for d in suite.dialogues if d.kind == "conditioned"}
    items = [p for p in suite.prompts if p.id in twins] + suite.dialogues
    gen = RememberingGenerator(items)
    rows = {}
    for side, history in (("base", True), ("no_history", False)):
        replies = run_items(gen, items, False, history=history)
        rows[side] = [
            {"side": side, "id": it.id, "turn": t, "response": r} for it in items for t, r in enumerate(replies[it.id])
        ]
    out = dialogues(items, rows, n=200)
    base, alone = out["sides"]["base"], out["sides"]["no_history"]
    for k in HISTORY_KINDS:
        assert base[k]["mean"] == 1.0 and alone[k]["mean"] == 0.0, (k, base[k], alone[k])
        h = out["history_effect"]["base"][k]
        assert h["n"] == base[k]["n"] >= 30 and h["difference"]["mean"] == 1.0 and h["mcnemar"]["p"] < 1e-8
    # Asked alone, the conditioned item and the retest question are the fresh item: nothing is lost. (It
    # knows no reply to the 9 IFEval items, which have no reference, with or without the history.)
    assert alone["conditioned"]["mean"] == base["conditioned"]["mean"] == 0.75
    assert base["transition_cost"]["n"] == 36 and base["transition_cost"]["difference"]["mean"] == 0.0
    assert base["retest_consistency"] == {"mean": 1.0, "ci95": [1.0, 1.0], "n": 36}
    family = {(t["metric"], t["context"]): t for t in out["tests"]["family"] if t["side"] == "base"}
    assert family[("history_effect", "memory")]["verdict"] == "history better"
    assert family[("history_effect", "conditioned")]["verdict"] == "not significant"


def _item(i: str, kind: str, turns: int, checks: list[dict], judged: list[int], **meta) -> Item:
    return Item(i, kind, [f"{i} turn {t}" for t in range(turns)], ["factual"] * turns, meta=meta,
                turn_checks=[checks if t in judged else [] for t in range(turns)], references=[None] * turns)  # fmt: skip


def test_the_metrics_on_a_small_case_computed_by_hand():
    paris = [{"type": "short_answer", "aliases": ["Paris"]}]
    items = [
        *[_item(f"m{i}", "memory", 2, paris, [1]) for i in range(4)],
        *[_item(f"r{i}", "retest", 3, paris, [0, 2]) for i in range(3)],
        _item("c0", "conditioned", 2, paris, [1], fresh_id="f0"),
        _item("c1", "conditioned", 2, paris, [1], fresh_id="f1"),
        Item("f0", "prompt", ["f0"], ["factual"], checks=paris),
        Item("f1", "prompt", ["f1"], ["factual"], checks=paris),
    ]
    right, wrong = "Paris.", "Lyon."

    def rows(side: str, answers: dict[tuple[str, int], str]) -> list[dict]:
        return [{"side": side, "id": i, "turn": t, "response": r} for (i, t), r in answers.items()]

    base = {("m0", 1): right, ("m1", 1): right, ("m2", 1): right, ("m3", 1): wrong,
            ("r0", 0): right, ("r0", 2): right, ("r1", 0): right, ("r1", 2): wrong,
            ("r2", 0): wrong, ("r2", 2): wrong, ("c0", 1): wrong, ("c1", 1): right,
            ("f0", 0): right, ("f1", 0): right}  # fmt: skip
    alone = {("m0", 1): right, ("m1", 1): wrong, ("m2", 1): wrong, ("m3", 1): wrong}
    adapter = {**base, ("m3", 1): right, ("r2", 0): "Rome", ("r2", 2): "Berlin", ("c0", 1): right}
    adapter.pop(("m0", 1))  # an unanswered judged turn: missing, not failed
    out = dialogues(items, {"base": rows("base", base), "no_history": rows("n", alone),
                            "adapter": rows("adapter", adapter)}, n=200)  # fmt: skip
    b = out["sides"]["base"]
    assert out["kinds"] == {"memory": 4, "conditioned": 2, "retest": 3}
    assert (b["memory"]["mean"], b["memory"]["n"], b["memory"]["missing"]) == (0.75, 4, 0)
    assert (b["retest"]["mean"], b["retest"]["n"]) == (round(1 / 3, 4), 3)
    # Right first in r0 and r1, right again in r0 only; agreement: r0 (both right) and r2 (same wrong reply).
    assert (b["retest_consistency"]["mean"], b["retest_consistency"]["n"]) == (0.5, 2)
    assert (b["retest_agreement"]["mean"], b["retest_agreement"]["n"]) == (round(2 / 3, 4), 3)
    cost = b["transition_cost"]
    assert (cost["n"], cost["fresh"], cost["conditioned"], cost["difference"]["mean"]) == (2, 1.0, 0.5, 0.5)
    assert cost["mcnemar"]["fresh_only"] == 1 and cost["mcnemar"]["conditioned_only"] == 0
    h = out["history_effect"]["base"]
    assert h["without"] == "no_history" and "no_history" not in out["difference"]
    assert (h["memory"]["n"], h["memory"]["with_history"], h["memory"]["without_history"]) == (4, 0.75, 0.25)
    assert h["memory"]["difference"]["mean"] == 0.5 and h["memory"]["mcnemar"]["with_history_only"] == 2
    assert h["memory"]["mcnemar"]["p"] == 0.5  # two discordant pairs, both one way: 2 × 0.5²
    a = out["sides"]["adapter"]
    assert (a["memory"]["mean"], a["memory"]["n"], a["memory"]["missing"]) == (1.0, 3, 1)
    assert (a["retest_agreement"]["mean"]) == round(1 / 3, 4)  # r2: two different wrong answers
    d = out["difference"]["adapter"]["memory"]
    assert (d["n"], d["adapter"], d["base"], d["mcnemar"]["adapter_only"]) == (3, 1.0, round(2 / 3, 4), 1)
    family = out["tests"]["family"]
    assert all(t["verdict"].startswith("no verdict") for t in family)  # n < 20 everywhere
    assert {t["metric"] for t in family} == {"transition_cost", "history_effect", "dialogue_pass_rate"}


def test_limits_exports_and_errors(tmp_path: Path, suite):
    s = load_suite(["default"], dialogues_per_kind=2)
    assert Counter(d.kind for d in s.dialogues) == {k: 2 for k in DIALOGUE_KINDS}
    assert len(s.prompts) == len(suite.prompts)
    narrow = load_suite(["default"], ["factual", "conversational"])
    assert narrow.dialogues and {d.kind for d in narrow.dialogues} <= {"retest", "topic_return"}
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(it.export()) for it in s.items) + "\n")
    back = load_suite([str(path)])
    assert [
        (d.id, d.kind, d.turns, d.contexts, d.turn_checks, d.references, d.tools, d.meta) for d in back.dialogues
    ] == [(d.id, d.kind, d.turns, d.contexts, d.turn_checks, d.references, d.tools, d.meta) for d in s.dialogues]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "context": "factual", "kind": "memory", "turns": ["a", "b"],
                               "turn_checks": [[]]}) + "\n")  # fmt: skip
    with pytest.raises(ValueError, match=r"bad.jsonl: line 1: turn_checks must hold one list of checks per user turn"):
        load_suite([str(bad)])
