"""The content guard: special-token strings and mojibake are repaired or quarantined, and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emergent.config import parse_config
from emergent.data.guard import SPECIAL_TOKEN, SPECIAL_TOKENS, guard_conversation, guard_text
from emergent.data.ingest import IngestStream
from emergent.errors import Reject
from emergent.schema import tool_call

TOKENIZER = Path(__file__).resolve().parents[1] / "fixtures" / "smollm2-tokenizer" / "tokenizer.json"


@pytest.mark.parametrize(
    ("text", "repaired", "fixes"),
    [
        ("A plot that ends.<|endoftext|>", "A plot that ends.", {"special_token_stripped": 1}),
        ("<s>[INST] leading tokens go", "leading tokens go", {"special_token_stripped": 1}),
        ("Done. <|eot_id|>\n<|end_of_text|>  ", "Done.", {"special_token_stripped": 1}),
        ("Sure.</s>", "Sure.", {"special_token_stripped": 1}),
        ("He lived in LÃ¼beck.", "He lived in Lübeck.", {"mojibake_fixed": 1}),
        ("Jimmie is naÃ¯ve.<|endoftext|>", "Jimmie is naïve.", {"special_token_stripped": 1, "mojibake_fixed": 1}),
        ("A = Ï€ * r^2", "A = π * r^2", {"mojibake_fixed": 1}),
        # Correct non-ASCII text is left as written: no false positives.
        ("Café, naïve, “quotes”, 東京, emoji 🙂, Ünïcödé — fine.", None, {}),
        ("Use <b>bold</b> and a[i] < b[j] in code.", None, {}),
    ],
)
def test_repairs(text: str, repaired: str | None, fixes: dict) -> None:
    out, counts = guard_text(text, "message 2 (assistant)")
    assert out == (repaired if repaired is not None else text)
    assert dict(counts) == fixes


@pytest.mark.parametrize(
    ("text", "reason", "names"),
    [
        ("first<|im_end|>\n<|im_start|>user\nsecond", "special_token", "<|im_end|>"),
        ("Say [INST] to the model.", "special_token", "[INST]"),
        ("a <start_of_turn>model b", "special_token", "<start_of_turn>"),
        ("a <|reserved_special_token_7|> b", "special_token", "<|reserved_special_token_7|>"),
        ("a <｜end▁of▁sentence｜> b", "special_token", "<｜end▁of▁sentence｜>"),
        ("broken \ufffd text", "mojibake", "garbled"),
    ],
)
def test_quarantines_what_cannot_be_repaired(text: str, reason: str, names: str) -> None:
    with pytest.raises(Reject) as err:
        guard_text(text, "message 2 (assistant)")
    assert err.value.reason == reason and names in err.value.detail and "message 2" in err.value.detail


def test_tool_calls_and_schemas_are_checked_not_edited() -> None:
    conv = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call("f", {"x": "<|im_end|>"})]},
        ],
        "tools": [{"name": "f", "parameters": {"type": "object"}}],
    }
    with pytest.raises(Reject, match="tool call"):
        guard_conversation(conv)


def test_every_smollm2_special_token_is_listed() -> None:
    """The default model's own special tokens must all be caught (tests/fixtures holds its tokenizer)."""
    special = [t["content"] for t in json.loads(TOKENIZER.read_text())["added_tokens"] if t["special"]]
    assert special and set(special) <= set(SPECIAL_TOKENS)
    assert all(SPECIAL_TOKEN.fullmatch(t) for t in SPECIAL_TOKENS)


def test_ingest_counts_repairs_and_quarantines_per_source(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Summarise.", "output": "It ends well.<|endoftext|>"},
        {"instruction": "Where?", "output": "In LÃ¼beck."},
        {"instruction": "Chat.", "output": "Hi<|im_end|>\n<|im_start|>user\nmore"},
        {"instruction": "Clean.", "output": "Nothing to do."},
        {"instruction": "Only a token.", "output": "<|endoftext|>"},
    ]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    cfg = parse_config({"sources": [{"name": "planted", "format": "alpaca", "path": "a.jsonl"}]}, tmp_path / "c.yaml")
    quarantined: list[dict] = []
    stream = IngestStream(cfg.sources, cfg.ingest, quarantined.append)
    accepted = list(stream)
    stats = stream.summary()["sources"]["planted"]
    assert [c["messages"][1]["content"] for c in accepted] == ["It ends well.", "In Lübeck.", "Nothing to do."]
    assert stats["repaired"] == {"mojibake_fixed": 1, "special_token_stripped": 1}
    assert stats["reasons"] == {"empty_assistant_turn": 1, "special_token": 1}
    assert stats["input"] == stats["accepted"] + stats["quarantined"] == 5
    assert stream.summary()["repaired"] == stats["repaired"]


def test_real_rows_are_repaired(shared_data: Path) -> None:
    """duorc_story: 199 of 199 completions end in <|endoftext|>, 38 hold mojibake; none is lost to the guard."""
    rows = [json.loads(line) for line in open(shared_data / "self-instruct/duorc_SelfRC_build_story_around_qa.jsonl")]
    fixed = {"special_token_stripped": 0, "mojibake_fixed": 0}
    for row in rows:
        text, counts = guard_text(row["completion"], "completion")
        assert not SPECIAL_TOKEN.search(text) and "Ã" not in text
        for k in fixed:
            fixed[k] += counts[k]
    assert fixed == {"special_token_stripped": 199, "mojibake_fixed": 38}
    naive = next(guard_text(r["completion"], "c")[0] for r in rows if "naÃ¯ve" in r["completion"])
    assert "Jimmie is initially naïve about prison life" in naive


def test_real_code_rows(shared_data: Path) -> None:
    """code_alpaca: two answers with mojibake are fixed; five bash usage lines with SmolLM2's <filename> token are quarantined."""
    src = shared_data / "codealpaca"
    cfg = parse_config(
        {
            "sources": [
                {
                    "name": "ca",
                    "format": "code_alpaca",
                    "paths": [str(src / "code_alpaca_2k.json"), str(src / "new_codealpaca.json")],
                }
            ]
        },
        shared_data / "c.yaml",
    )
    quarantined: list[dict] = []
    stream = IngestStream(cfg.sources, cfg.ingest, quarantined.append)
    accepted = list(stream)
    stats = stream.stats["ca"].as_dict()
    assert stats["repaired"] == {"mojibake_fixed": 2}
    tokens = [q for q in quarantined if q["reason"] == "special_token"]
    assert len(tokens) == 5 and all("'<filename>'" in q["detail"] for q in tokens)
    assert any("A = π * r^2" in c["messages"][0]["content"] for c in accepted)
    assert not any(SPECIAL_TOKEN.search(m["content"]) for c in accepted for m in c["messages"])
