"""The register scorer: built from the hand-written set only, validated on replies it never saw, and its
prompt-aware fit not reachable by the controls.

The scorer ships as prototypes.npz, rebuilt by `python bench/register_validation.py --write` from
src/emergent/evaluate/register/written_*.jsonl. The validation set is bench/register/labelled.jsonl:
real SmolLM2 generations of the suite, labelled by reading them (rules in bench/register/README.md).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from controls import CONTROLS, POSITIVE, generations

from emergent.evaluate.checks.text import words
from emergent.evaluate.prototypes import written_replies
from emergent.evaluate.run import STYLED_KINDS, add_style
from emergent.evaluate.scorer import Prototypes, StyleScorer, build_prototypes, register_fit
from emergent.evaluate.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "bench" / "register" / "labelled.jsonl"
SECOND = ROOT / "bench" / "register" / "second_reading.jsonl"
REGISTERS = {
    "technical", "analytical", "tool_use", "factual", "instructional",
    "empathetic", "creative", "conversational", "ethical",
}  # fmt: skip


@pytest.fixture(scope="module")
def scorer():
    return StyleScorer()


@pytest.fixture(scope="module")
def suite():
    return load_suite(["default"])


def test_the_build_set_is_hand_written_balanced_and_disjoint_from_the_suite(suite):
    rows = written_replies()
    assert len({r["id"] for r in rows}) == len(rows)
    counts = Counter(r["context"] for r in rows)
    assert set(counts) == REGISTERS and min(counts.values()) >= 40, counts
    assert all(r["request"].strip() and r["reply"].strip() and r["note"].strip() for r in rows)
    # No suite prompt is a build request: the scorer would otherwise have seen the evaluation's topics.
    suite_prompts = {" ".join(words(t)) for it in suite.items for t in it.turns}
    assert not [r["id"] for r in rows if " ".join(words(r["request"])) in suite_prompts]


def test_the_shipped_scorer_is_the_written_build(scorer):
    meta = scorer.protos.meta
    assert meta["built_from"] == "written"
    assert set(scorer.contexts) == REGISTERS
    assert meta["counts"] == dict(Counter(r["context"] for r in written_replies()))


def test_rebuilding_from_the_written_set_gives_the_shipped_scorer(scorer):
    from emergent.evaluate.prototypes import texts_from_written

    rebuilt = build_prototypes(texts_from_written())
    assert rebuilt.contexts == scorer.contexts
    # Centroids are stored in float16; the head is fitted on float32 embeddings.
    np.testing.assert_allclose(rebuilt.centroids, scorer.protos.centroids, atol=2e-3)
    np.testing.assert_allclose(rebuilt.coef, scorer.protos.coef, atol=0.05)


def test_fit_needs_the_register_the_topic_and_words_of_its_own():
    prompt = "My grandmother passed away last week and I keep replaying our last phone call."
    good = "I'm so sorry about your grandmother. Replaying that last phone call is such a common part of grief."
    assert register_fit(good, prompt, "empathetic", "empathetic") is True
    assert register_fit(good, prompt, "empathetic", "factual") is False  # wrong register
    canned = "I'm so sorry you're going through this. Your feelings are valid, and you're not alone."
    assert register_fit(canned, prompt, "empathetic", "empathetic") is False  # not about this request
    assert register_fit(prompt, prompt, "empathetic", "empathetic") is False  # echo
    assert register_fit(good, prompt, None, "empathetic") is None  # a context the scorer does not know


def _fit_rate(items, reply, scorer) -> float:
    rows = [r for r in generations(items, reply) if r["kind"] in STYLED_KINDS]
    add_style(rows, scorer, {it.id: it.family for it in items})
    judged = [r["fit"] for r in rows if r["fit"] is not None]
    return sum(judged) / len(judged)


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_negative_controls_rarely_fit(suite, scorer, control):
    assert _fit_rate(suite.items, CONTROLS[control], scorer) <= 0.1


def test_reference_answers_mostly_fit(suite, scorer):
    items = [it for it in suite.items if it.reference is not None]
    assert len(items) >= 300
    assert _fit_rate(items, POSITIVE["reference"], scorer) >= 0.5


@pytest.mark.skipif(not LABELS.is_file(), reason="bench/register/labelled.jsonl not present")
def test_hand_labelled_generations_are_well_formed():
    rows = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    assert len(rows) >= 300
    assert {r["side"] for r in rows} >= {"base", "adapter"}
    assert all(r["register"] in REGISTERS | {"none"} and isinstance(r["fits"], bool) for r in rows)
    assert len({(r["side"], r["run"], r["id"]) for r in rows}) == len(rows)


@pytest.mark.skipif(not SECOND.is_file(), reason="bench/register/second_reading.jsonl not present")
def test_second_reading_covers_every_row_and_agrees_with_the_first():
    """The blind second reading labels the same rows: a misaligned file (labels written against the wrong
    rows, as a discarded first attempt was) agrees at chance level, so kappa guards the alignment too.
    Measured: register kappa 0.94, fit kappa 0.84 over 360 rows (bench/RESULTS.md)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from register_validation import kappa

    rows = map(json.loads, LABELS.read_text().splitlines())
    first = {r["lid"]: r for r in rows if r["batch"] in ("dev", "test")}  # the fresh batch has one reading
    second = {r["lid"]: r for r in map(json.loads, SECOND.read_text().splitlines())}
    assert second.keys() == first.keys()
    assert all(r["register"] in REGISTERS | {"none"} and isinstance(r["fits"], bool) for r in second.values())
    lids = sorted(first)
    assert kappa([first[i]["register"] for i in lids], [second[i]["register"] for i in lids])[1] >= 0.8
    assert kappa([first[i]["fits"] for i in lids], [second[i]["fits"] for i in lids])[1] >= 0.7


@pytest.mark.skipif(not LABELS.is_file(), reason="bench/register/labelled.jsonl not present")
def test_out_of_source_accuracy_on_the_sets_it_was_never_tuned_against(scorer):
    """The test half (80.9 %, n 141) and the fresh batch labelled after every scorer choice (81.0 %, n 147;
    bench/RESULTS.md, sessions 16-17): the 80 % goal on both, and the figure the report prints beside every
    register number is their joint accuracy."""
    from emergent.report.eval_sections import SCORER_MARK

    rows = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    right = total = 0
    for batch in ("test", "fresh"):
        held = [r for r in rows if r["batch"] == batch and r["register"] != "none"]
        assert len(held) >= 100, batch
        predicted = [s["context"] for s in scorer.score([r["response"] for r in held])]
        hits = sum(p == r["register"] for p, r in zip(predicted, held, strict=True))
        assert hits / len(held) >= 0.80, (batch, hits / len(held))
        right, total = right + hits, total + len(held)
    assert f" {round(100 * right / total)} % right out of source" in SCORER_MARK


def test_prototype_files_of_the_older_design_still_load_and_score(tmp_path):
    """Files built before the embedding head (centroid similarities + features) keep working."""
    from emergent.evaluate.scorer import embed
    from emergent.evaluate.style import FEATURES

    texts = {
        "technical": "```python\ndef add(a, b):\n    return a + b\n```",
        "creative": "Once, a fox sang to the moon.",
    }
    cents = embed(list(texts.values()))
    width = len(texts) + len(FEATURES)
    coef = np.zeros((2, width))
    coef[0, 0], coef[1, 1] = 10.0, 10.0  # each context follows its own centroid similarity
    old = Prototypes(
        contexts=list(texts),
        centroids=cents,
        centroid_context=np.arange(2),
        feat_mean=np.zeros(len(FEATURES)),
        feat_std=np.ones(len(FEATURES)),
        coef=coef,
        intercept=np.zeros(2),
        head_input="similarities",
    )
    path = old.save(tmp_path / "old.npz")
    z = dict(np.load(path))
    del z["head_input"], z["feature_weight"]  # as written by the older code
    np.savez(path, **z)
    loaded = Prototypes.load(path)
    assert loaded.head_input == "similarities"
    assert [s["context"] for s in StyleScorer(loaded).score(list(texts.values()))] == list(texts)
