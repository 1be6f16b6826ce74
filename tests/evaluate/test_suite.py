from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emergent.evaluate.suite import DIALOGUE_KINDS, load_suite, load_suite_file

CONTEXTS = ["technical", "empathetic", "creative", "analytical", "tool_use", "ethical", "conversational", "factual"]


def test_the_shipped_suite_covers_every_context_with_50_or_more_checked_items():
    s = load_suite(["default"])
    counts = Counter(p.contexts[0] for p in s.prompts)
    assert set(counts) == {*CONTEXTS, "instructional"}
    checked = Counter(p.contexts[0] for p in s.prompts if p.checks)
    assert set(checked) == set(counts) and min(checked.values()) >= 50
    texts = [p.turns[0] for p in s.prompts if p.checks]
    assert len(set(texts)) == len(texts)  # no duplicate checked prompts
    assert len({p.id for p in s.items}) == len(s.items)
    texts = {p.turns[0] for p in s.prompts}
    assert any(t.startswith("How do I optimise this database query?") for t in texts)
    assert any(t.startswith("I'm feeling really stressed lately") for t in texts)
    assert all(p.tools and all("parameters" in t for t in p.tools) for p in s.prompts if p.contexts[0] == "tool_use")
    assert all(p.tools is None for p in s.prompts if p.contexts[0] != "tool_use")
    kinds = Counter(d.kind for d in s.dialogues)
    assert set(kinds) == set(DIALOGUE_KINDS) and min(kinds.values()) >= 30
    assert s.items[-len(s.dialogues) :] == s.dialogues  # generated and exported with the rest


def test_a_fixed_subset_takes_checked_items_first():
    s = load_suite(["default"], [*CONTEXTS, "instructional"], prompts_per_context=3)
    assert all(p.checks for p in s.prompts) and len(s.prompts) == 27
    technical = [p.id for p in s.prompts if p.contexts[0] == "technical"]
    assert any("mbpp" in i for i in technical) and any("humaneval" in i for i in technical)


def test_export_lines_carry_messages_checks_and_reference_and_load_back(tmp_path: Path):
    import json

    s = load_suite(["default"], CONTEXTS, prompts_per_context=2, consistency_dialogues=1, transition_dialogues=1)
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(it.export()) for it in s.prompts) + "\n")
    line = s.prompts[0].export()
    assert {"id", "context", "kind", "messages", "turns", "checks", "reference"} <= set(line)
    assert line["messages"] == [{"role": "user", "content": s.prompts[0].turns[0]}]
    back = load_suite([str(path)])
    assert [(p.id, p.checks, p.reference, p.tools) for p in back.prompts] == [
        (p.id, p.checks, p.reference, p.tools) for p in s.prompts
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "context": "factual", "turns": ["q"], "checks": [{"type": "vibes"}]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 1: checks must be"):
        load_suite([str(bad)])


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
    assert len(s.dialogues) == sum(1 for d in load_suite(["default"], CONTEXTS).dialogues)  # no limit set
    limited = load_suite(["default"], CONTEXTS, prompts_per_context=3, dialogues_per_kind=1)
    assert Counter(d.kind for d in limited.dialogues) == {k: 1 for k in DIALOGUE_KINDS}
    full = load_suite([str(extra)])
    assert [p.id for p in full.prompts] == ["mine/factual/0"]


def test_a_bad_suite_file_names_the_entry_and_the_fix(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("transitions:\n  - {from: technical, to: creative, shift_at: 5, turns: [a, b]}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: transitions\[0\]: shift_at must be"):
        load_suite_file(bad)
    with pytest.raises(FileNotFoundError, match="suite file not found"):
        load_suite_file(tmp_path / "missing.yaml")


def test_checked_items_share_no_record_with_the_bundled_training_sample():
    import json

    from emergent.evaluate.suite import ITEM_FILES

    sample = Path(__file__).resolve().parents[2] / "src" / "emergent" / "data" / "sample"
    items = [p for p in load_suite(["default"]).prompts if p.checks]
    mbpp = {json.loads(x)["task_id"] for x in (sample / "mbpp" / "mbpp.jsonl").read_text().splitlines() if x.strip()}
    ours = [int(p.id.rsplit("-", 1)[1]) for p in items if p.id.startswith("technical/mbpp-")]
    assert ours and all(11 <= i <= 510 for i in ours) and not set(ours) & mbpp
    bfcl = {
        json.loads(x)["id"]
        for f in (sample / "gorilla").glob("BFCL_v4_*.json")
        for x in f.read_text().splitlines()
        if x.strip()
    }
    assert not {p.id.removeprefix("tool_use/bfcl-") for p in items if p.id.startswith("tool_use/bfcl-")} & bfcl
    gsm8k = {json.loads(x)["question"] for x in (sample / "gsm8k" / "train.jsonl").read_text().splitlines() if x}
    assert not {p.turns[0] for p in items if p.contexts[0] == "analytical"} & gsm8k
    sources = (Path(__file__).resolve().parents[2] / "src/emergent/evaluate/items/SOURCES.md").read_text()
    assert all(f"{name}.jsonl" in sources for name in ITEM_FILES)
