"""A fixture of deliberately broken records: every reason ends in quarantine, nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emergent.config import parse_config
from emergent.data.ingest import ingest

BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "broken"


def _cfg(tmp_path: Path, persona: str = "quarantine"):
    data = {
        "ingest": {"max_record_chars": 10_000, "persona_tags": persona},
        "sources": [
            {"name": "alpaca_broken", "format": "alpaca", "path": str(BROKEN / "alpaca.jsonl"), "license": "test"},
            {"name": "openai_broken", "format": "openai", "path": str(BROKEN / "openai.jsonl"), "license": "test"},
            {"name": "csv_broken", "format": "prompt_completion", "path": str(BROKEN / "pc.csv"), "license": "test"},
        ],
    }
    return parse_config(data, tmp_path / "config.yaml")


def test_every_broken_record_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    manifest = ingest(cfg.sources, cfg.ingest, tmp_path / "out", show_progress=False)
    entries = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    by_origin = {e["origin"]: e["reason"] for e in entries}
    assert by_origin == {
        "alpaca.jsonl:2": "malformed_json",
        "alpaca.jsonl:3": "missing_field",
        "alpaca.jsonl:4": "empty_assistant_turn",
        "alpaca.jsonl:5": "non_utf8",
        "alpaca.jsonl:6": "oversize",
        "alpaca.jsonl:7": "persona_tag",
        "alpaca.jsonl:8": "not_an_object",
        "alpaca.jsonl:10": "wrong_field_type",
        "openai.jsonl:2": "wrong_role_order",
        "openai.jsonl:3": "wrong_role_order",
        "openai.jsonl:4": "wrong_role_order",
        "openai.jsonl:5": "bad_tool_call",
        "openai.jsonl:6": "no_assistant_turn",
        "openai.jsonl:7": "unknown_role",
        "openai.jsonl:8": "missing_field",
        "pc.csv:5": "malformed_csv",  # the first record spans lines 2-4
        "pc.csv:6": "non_utf8",
    }
    for name, s in manifest["sources"].items():
        assert s["input"] == s["accepted"] + s["quarantined"], name
    assert manifest["sources"]["alpaca_broken"] == {
        **manifest["sources"]["alpaca_broken"],
        "input": 10,
        "accepted": 2,
        "quarantined": 8,
    }
    assert manifest["sources"]["openai_broken"]["accepted"] == 2
    assert manifest["sources"]["csv_broken"]["accepted"] == 2
    assert sum(manifest["reasons"].values()) == manifest["counts"]["quarantined"] == len(entries)
    # The raw text is kept (truncated) so a person can see what was wrong.
    oversize = next(e for e in entries if e["reason"] == "oversize")
    assert oversize["raw"].endswith("…[truncated]") and len(oversize["raw"]) < 2_100
    assert all(e["source"] and e["origin"] and e["raw"] for e in entries)


def test_persona_tags_are_stripped_and_counted_by_default(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, persona="strip")
    manifest = ingest(cfg.sources[:1], cfg.ingest, tmp_path / "out", show_progress=False)
    assert manifest["persona_tags_stripped"] == 1
    from emergent.data.store import read_conversations

    texts = [m["content"] for c in read_conversations(tmp_path / "out") for m in c["messages"]]
    assert "Greet me" in texts and not any("persona" in t.lower() for t in texts)


@pytest.mark.parametrize(
    "text",
    [
        "<persona:pirate> hi",
        "[persona=coder] hi",
        "<|persona|> hi",
        "hi <persona=x>",
        "[persona: kind] hi",
        "<|persona:empath|>hi",
    ],
)
def test_persona_tag_shapes_are_detected(text: str) -> None:
    from emergent.data.ingest import strip_persona_tags

    conv = {"messages": [{"role": "user", "content": text}]}
    assert strip_persona_tags(conv) == 1
    assert conv["messages"][0]["content"] == "hi"


def test_metadata_never_enters_messages(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    ingest(cfg.sources, cfg.ingest, tmp_path / "out", show_progress=False)
    from emergent.data.store import read_conversations

    for conv in read_conversations(tmp_path / "out"):
        text = json.dumps(conv["messages"])
        assert conv["_source"] not in text and conv["_id"] not in text
