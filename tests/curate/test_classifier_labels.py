"""The hand-written labelled set, the self-instruct mapping, and the shipped model measured on them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from emergent.curate.classifier import load_default_classifier
from emergent.curate.classifier_data import HANDWRITTEN, LABELS_DIR, read_handwritten, read_mapping
from emergent.curate.classifier_train import score_model
from emergent.schema import CATEGORIES

ROWS = [json.loads(line) for line in HANDWRITTEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_bucket_has_a_fixed_test_half_and_at_least_as_many_training_requests() -> None:
    per = Counter((r["category"], r["split"]) for r in ROWS)
    for bucket in CATEGORIES:
        train, test = per[(bucket, "train")], per[(bucket, "test")]
        # The test half (42-43 per bucket) was fixed when the set was written; later requests join
        # the training half only (session 11 added 380), so the scores stay comparable.
        assert test >= 42, (bucket, test)
        assert train >= test - 1, (bucket, train, test)
    assert sum(r["split"] == "test" for r in ROWS) == 422  # the scored half never changes
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    assert all(r["reason"].strip() for r in ROWS)
    texts = [json.dumps(r["messages"], sort_keys=True) for r in ROWS]
    assert len(set(texts)) == len(texts), "a request appears twice"


def test_the_set_is_varied_in_length_turns_and_tools() -> None:
    lengths = sorted(sum(len(m.get("content") or "") for m in r["messages"]) for r in ROWS)
    assert lengths[0] < 30 and lengths[-1] > 400  # one-liners and paragraphs
    multi_turn = [r for r in ROWS if sum(m["role"] == "user" for m in r["messages"]) > 1]
    assert len(multi_turn) >= 30 and len({r["category"] for r in multi_turn}) >= 8
    with_tools = [r for r in ROWS if r.get("tools")]
    assert with_tools and all(r["category"] == "tool_use" for r in with_tools)
    tool_use = [r for r in ROWS if r["category"] == "tool_use"]
    assert 0 < len(tool_use) - len(with_tools) < len(tool_use)  # some tool requests come without tools
    assert any(m["role"] == "system" for r in ROWS for m in r["messages"])


def test_reading_rejects_a_row_without_a_reason(tmp_path: Path) -> None:
    row = {**ROWS[0], "reason": " "}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1 .*reason"):
        read_handwritten(bad)


def test_mapping_covers_every_self_instruct_app(shared_data: Path) -> None:
    mapping = read_mapping(LABELS_DIR / "self_instruct_apps.yaml")
    rows = (shared_data / "self-instruct/user_oriented_instructions.jsonl").read_text().splitlines()
    apps = {json.loads(line)["motivation_app"] for line in rows if line.strip()}
    assert apps == set(mapping)
    assert len(set(mapping.values())) >= 6  # a mixed corpus really is mixed


def test_mapping_covers_every_alpaca_seed_task(shared_data: Path) -> None:
    mapping = read_mapping(LABELS_DIR / "alpaca_seed_tasks.yaml")
    rows = (shared_data / "alpaca-seed/seed_tasks.jsonl").read_text().splitlines()
    names = {json.loads(line)["name"] for line in rows if line.strip()}
    assert names == set(mapping)  # 175 tasks, 174 names: two fact-verification tasks share one
    assert len(set(mapping.values())) >= 6


@pytest.fixture(scope="module")
def handwritten_test_scores() -> dict:
    return score_model(load_default_classifier(), read_handwritten(split="test"))


# The issue's goal, met since session 11 (0.877 macro F1 for session 20's file; bench/RESULTS.md): a retrained
# model that drops below it fails here.
def test_shipped_model_reaches_macro_085_on_the_handwritten_test_half(handwritten_test_scores: dict) -> None:
    report = handwritten_test_scores
    assert report["macro_f1"] >= 0.85, {k: round(v["recall"], 2) for k, v in report["per_class"].items()}


def test_shipped_model_recalls_every_bucket_on_the_handwritten_test_half(handwritten_test_scores: dict) -> None:
    # Weakest bucket measured: ethical 0.74 (session 11).
    assert all(m["recall"] >= 0.7 for m in handwritten_test_scores["per_class"].values()), handwritten_test_scores[
        "per_class"
    ]


def test_shipped_model_recognises_specialized_requests(handwritten_test_scores: dict) -> None:
    assert handwritten_test_scores["per_class"]["specialized"]["recall"] >= 0.7


def test_shipped_metrics_record_leave_one_source_out_per_bucket() -> None:
    from emergent.curate.classifier import DEFAULT_MODEL

    metrics = json.loads(DEFAULT_MODEL.with_name("classifier.metrics.json").read_text())
    loso = metrics["leave_one_source_out"]
    assert len(loso["per_source"]) >= 15 and set(loso["per_class"]) <= set(CATEGORIES)
    assert metrics["handwritten_test"]["examples"] == sum(r["split"] == "test" for r in ROWS)
