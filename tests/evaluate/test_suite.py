from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emergent.evaluate.suite import load_suite, load_suite_file

CONTEXTS = ["technical", "empathetic", "creative", "analytical", "tool_use", "ethical", "conversational", "factual"]


def test_the_shipped_suite_covers_every_context_with_20_or_more_prompts():
    s = load_suite(["default"])
    counts = Counter(p.contexts[0] for p in s.prompts)
    assert set(counts) == set(CONTEXTS)
    assert min(counts.values()) >= 20
    texts = {p.turns[0] for p in s.prompts}
    assert len(texts) == len(s.prompts)  # no duplicate prompts
    assert any(t.startswith("How do I optimise this database query?") for t in texts)
    assert any(t.startswith("I'm feeling really stressed lately") for t in texts)
    assert all(p.tools and all("parameters" in t for t in p.tools) for p in s.prompts if p.contexts[0] == "tool_use")
    assert all(p.tools is None for p in s.prompts if p.contexts[0] != "tool_use")


def test_dialogues_know_their_context_per_turn_and_the_shift():
    s = load_suite(["default"])
    assert len(s.consistency) >= 8 and len(s.transitions) >= 8
    stressed = next(d for d in s.consistency if d.turns[0].startswith("I'm feeling really stressed"))
    assert stressed.turns[-1] == "What if nothing helps?" and set(stressed.contexts) == {"empathetic"}
    burnout = next(d for d in s.transitions if "burnout" in d.turns[1])
    assert burnout.shift_at == 1 and burnout.contexts[:2] == ["technical", "empathetic"]
    for d in s.transitions:
        assert d.contexts[d.shift_at - 1] != d.contexts[d.shift_at]


def test_limits_take_a_fixed_subset_and_user_files_merge(tmp_path: Path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("prompts:\n  factual:\n    - What is the capital of Peru?\n")
    s = load_suite(
        ["default", str(extra)], CONTEXTS, prompts_per_context=3, consistency_dialogues=2, transition_dialogues=1
    )
    assert Counter(p.contexts[0] for p in s.prompts) == {c: 3 for c in CONTEXTS}
    assert len(s.consistency) == 2 and len(s.transitions) == 1
    full = load_suite([str(extra)])
    assert [p.id for p in full.prompts] == ["mine/factual/0"]


def test_a_bad_suite_file_names_the_entry_and_the_fix(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("transitions:\n  - {from: technical, to: creative, shift_at: 5, turns: [a, b]}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: transitions\[0\]: shift_at must be"):
        load_suite_file(bad)
    with pytest.raises(FileNotFoundError, match="suite file not found"):
        load_suite_file(tmp_path / "missing.yaml")
