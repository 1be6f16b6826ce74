"""Negative and positive controls of the primary metric, with no model: the metric cannot be gamed.

Fed synthetic generations, the keyword router with fixed templates, echo-the-prompt, empty replies and
one generic reply must score near zero on the appropriate-response rate; the items' reference answers
must score near one. (The register metric it replaces rated the router 0.89.) The checked dialogues
get the same controls turn by turn, plus an echo of the whole conversation so far.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from controls import (
    CONTROLS,
    DIALOGUE_CONTROLS,
    DIALOGUE_POSITIVE,
    POSITIVE,
    dialogue_generations,
    generations,
)

from emergent.evaluate.checks import score_reply
from emergent.evaluate.dialogue import dialogues
from emergent.evaluate.primary import primary
from emergent.evaluate.suite import load_suite


@pytest.fixture(scope="module")
def suite():
    return load_suite(["default"])


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_negative_controls_score_near_zero(suite, control: str):
    head, _, per_item = primary(suite.items, {"base": generations(suite.items, CONTROLS[control])}, n=200)
    base = head["base"]
    assert base["n"] == head["items_checked"] >= 9 * 50 and base["missing"] == 0
    assert base["mean"] <= 0.03, (control, base)
    for ctx, m in base["per_context"].items():
        assert m["mean"] <= 0.05, (control, ctx, m)


def test_a_dodge_that_names_the_subject_fails_through_engages(suite):
    """Before `engages` the dodge control passed 100 % of creative and conversational items and 98 % of ethical
    ones (0.342 overall, above base SmolLM2's 0.276): the subject checks only look for the request's words.
    Item by item, without the side-level template rule, `engages` is what fails it."""
    items = [it for it in suite.items if it.checks and it.contexts[-1] in ("creative", "conversational", "ethical")]
    replies = [CONTROLS["dodge"](it) for it in items]
    without = [
        score_reply([c for c in it.checks if c["type"] != "engages"], r, it.turns[-1])
        for it, r in zip(items, replies, strict=True)
    ]
    assert sum(v.passed for v in without) >= 0.9 * len(items)
    for it, r in zip(items, replies, strict=True):
        assert [c["type"] for c in score_reply(it.checks, r, it.turns[-1]).checks if not c["passed"]][-1] == "engages"


def test_a_parrot_fails_as_a_template_across_request_families(suite):
    """One fixed text with the request's words put in passes each open-ended item's own checks; compared with
    the side's replies to other families of requests it is a template, and fails. Within a family (puppy,
    kitten, rabbit) replies may share their words and are not compared."""
    head, _, per_item = primary(suite.items, {"base": generations(suite.items, CONTROLS["parrot"])}, n=50)
    failed_only_as_template = [
        i
        for i, v in per_item["base"].items()
        if [c["type"] for c in v["checks"] if not c["passed"]] == ["not_template"]
    ]
    assert len(failed_only_as_template) >= 140 and head["base"]["mean"] <= 0.03
    family = [it for it in suite.items if it.family == "conversational/written-02"]
    rows = generations(family, CONTROLS["parrot"])
    assert primary(family, {"base": rows}, n=20)[0]["base"]["mean"] == 1.0


def test_reference_answers_score_near_one(suite):
    head, _, per_item = primary(suite.items, {"base": generations(suite.items, POSITIVE["reference"])}, n=200)
    base = head["base"]
    assert base["mean"] >= 0.95 and base["ci95"][0] >= 0.9
    failed = [i for i, v in per_item["base"].items() if not v["passed"]]
    assert failed == []
    # IFEval has no gold replies: those items are missing for this generator, counted, not scored as 0.
    assert base["missing"] == sum(1 for it in suite.items if it.checks and it.reference is None) > 0
    assert "instructional" not in base["per_context"]


def test_the_paired_test_sees_reference_beat_router_per_context(suite):
    rows = {
        "base": generations(suite.items, CONTROLS["keyword_router"], "base"),
        "adapter": generations(suite.items, POSITIVE["reference"], "adapter"),
    }
    head, tests, _ = primary(suite.items, rows, n=200)
    assert head["difference"]["mean"] > 0.9 and head["difference"]["n"] == head["adapter"]["n"]
    mcnemar = {t["context"]: t for t in tests if t["metric"] == "primary"}
    assert set(mcnemar) == set(head["adapter"]["per_context"])
    assert all(t["adapter_only"] >= 45 and t["p"] < 1e-10 for t in mcnemar.values())


def test_several_adapters_in_one_file_report_their_spread(suite):
    rows = {
        "base": generations(suite.items, CONTROLS["empty"], "base"),
        "seed0": generations(suite.items, POSITIVE["reference"], "seed0"),
        "seed1": generations(suite.items, CONTROLS["generic"], "seed1"),
    }
    head, _, _ = primary(suite.items, rows, n=100)
    assert head["spread"]["sides"] == ["seed0", "seed1"] and head["spread"]["n"] == 2
    assert head["spread"]["min"] == 0.0 and head["spread"]["max"] == 1.0 and head["spread"]["sd"] > 0.5


@pytest.mark.parametrize("control", sorted(DIALOGUE_CONTROLS))
def test_negative_controls_fail_every_kind_of_dialogue(suite, control: str):
    rows = dialogue_generations(suite.dialogues, DIALOGUE_CONTROLS[control])
    rows += generations(suite.prompts, CONTROLS.get(control, lambda it: it.turns[-1]))  # the conditioned twins
    out = dialogues(suite.items, {"base": rows}, n=100)
    base = out["sides"]["base"]
    for kind, count in out["kinds"].items():
        assert count >= 30 and base[kind]["n"] == count and base[kind]["mean"] <= 0.03, (control, kind, base[kind])
    assert base["retest_consistency"]["mean"] in (None, 0.0), (control, base["retest_consistency"])


def test_reference_replies_pass_every_dialogue(suite):
    rows = dialogue_generations(suite.dialogues, DIALOGUE_POSITIVE["reference"])
    rows += generations(suite.prompts, POSITIVE["reference"])
    out = dialogues(suite.items, {"base": rows}, n=100)
    base = out["sides"]["base"]
    assert all(base[k]["mean"] == 1.0 and base[k]["n"] >= 27 for k in out["kinds"]), base
    assert base["retest_consistency"]["mean"] == 1.0 and base["transition_cost"]["difference"]["mean"] == 0.0


PROOF = Path(__file__).resolve().parents[2] / "docs" / "proof" / "curriculum-lr10-seed0" / "eval" / "generations.jsonl"


@pytest.mark.slow
def test_register_figures_a_control_reaches_are_exactly_the_listed_ones():
    """Every secondary register figure, for the controls and for base SmolLM2's committed replies on the proof
    suite. A figure no control reaches must stay well clear of them; one that a control reaches is listed in
    metrics.REACHED_BY_CONTROLS (shown, never tested). A scorer change that moves a figure from one side to
    the other fails here, and the list is updated with the reason."""
    from emergent.config import load_config
    from emergent.evaluate.metrics import REACHED_BY_CONTROLS
    from emergent.evaluate.run import read_generations, score_generations, suite_for
    from emergent.evaluate.scorer import StyleScorer

    cfg = load_config(PROOF.parents[4] / "configs" / "proof.yaml")
    suite = suite_for(cfg.eval)
    sides = {"base": read_generations(PROOF)["base"]}
    sides |= {name: generations(suite.items, reply, name) for name, reply in CONTROLS.items()}
    result = score_generations(suite, sides, StyleScorer("default"), cfg.eval.contexts, n=100, seed=0)
    figures = {
        "range": lambda side: result["range"][side]["mean"],
        "collapse": lambda side: result["collapse"][side]["context_predictability"]["mean"],
        "fit": lambda side: result["range"][side]["fit"]["mean"],
        "consistency": lambda side: result["consistency"][side]["mean"],
    }
    best = {metric: max(f(c) for c in CONTROLS) for metric, f in figures.items()}
    base = {metric: f("base") for metric, f in figures.items()}
    # Listed, and rightly so: some control comes within 10 % of base or beats it.
    reached = {m for m in ("range", "collapse") if best[m] >= 0.9 * base[m]}
    switch = min(result["transitions"][c]["mean"] for c in CONTROLS)  # turns to switch: fewer is better
    reached |= {"transitions"} if switch <= result["transitions"]["base"]["mean"] / 0.9 else set()
    depth = max(result["depth"][c]["mean"] for c in CONTROLS if result["depth"][c]["mean"] is not None)
    reached |= {"depth"} if depth >= result["depth"]["base"]["mean"] else set()  # a correlation: beating base
    assert reached == set(REACHED_BY_CONTROLS), (best, base, switch, depth)
    # Not listed, and rightly so: every control stays well below base.
    assert base["fit"] >= 0.4 and best["fit"] <= 0.25 * base["fit"], (best, base)
    assert best["consistency"] <= 0.75 * base["consistency"], (best, base)
