"""Generic formats with column maps, and fuzzing: arbitrary rows never crash ingestion or get lost."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergent.config import parse_config
from emergent.data.ingest import IngestStream
from emergent.schema import validate_conversation


def _stream(tmp_path: Path, fmt: str, rows: list, column_map: dict | None = None) -> tuple[list, list, dict]:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    source = {"name": "s", "format": fmt, "path": str(path), "column_map": column_map or {}}
    cfg = parse_config({"sources": [source]}, tmp_path / "c.yaml")
    quarantined: list = []
    stream = IngestStream(cfg.sources, cfg.ingest, quarantined.append)
    accepted = list(stream)
    return accepted, quarantined, stream.summary()


def test_alpaca_with_column_map(tmp_path: Path) -> None:
    rows = [{"q": "Translate 'cat' to French", "ctx": "", "a": "chat"}, {"q": "Sum", "ctx": "1 and 2", "a": "3"}]
    accepted, quarantined, _ = _stream(tmp_path, "alpaca", rows, {"instruction": "q", "input": "ctx", "output": "a"})
    assert not quarantined
    assert accepted[1]["messages"] == [
        {"role": "user", "content": "Sum\n\n1 and 2"},
        {"role": "assistant", "content": "3"},
    ]


def test_sharegpt(tmp_path: Path) -> None:
    rows = [
        {
            "conversations": [
                {"from": "human", "value": "hi"},
                {"from": "gpt", "value": "hello"},
                {"from": "human", "value": "bye"},
                {"from": "gpt", "value": "see you"},
            ]
        }
    ]
    accepted, _, _ = _stream(tmp_path, "sharegpt", rows)
    assert [m["role"] for m in accepted[0]["messages"]] == ["user", "assistant", "user", "assistant"]


def test_openai_with_tools(tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c0",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c0", "content": '{"temp": 3}'},
                {"role": "assistant", "content": "3 °C."},
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        }
    ]
    accepted, quarantined, _ = _stream(tmp_path, "openai", rows)
    assert not quarantined
    conv = accepted[0]
    assert conv["tools"] == [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    assert json.loads(conv["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}


def test_prompt_completion_with_column_map(tmp_path: Path) -> None:
    rows = [{"question": "2+2?", "answer": "4"}]
    accepted, _, _ = _stream(tmp_path, "prompt_completion", rows, {"prompt": "question", "completion": "answer"})
    assert accepted[0]["messages"][1]["content"] == "4"


_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["from", "value", "role", "content", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["instruction", "input", "output", "prompt", "completion", "conversations", "messages", "tools", "system", "other"]
)
_rows = st.lists(st.dictionaries(_keys, _value, max_size=6), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows, fmt=st.sampled_from(["alpaca", "sharegpt", "openai", "prompt_completion"]))
def test_fuzz_every_row_is_accounted_and_no_converter_crashes(tmp_path: Path, rows: list, fmt: str) -> None:
    accepted, quarantined, summary = _stream(tmp_path, fmt, rows)
    assert len(accepted) + len(quarantined) == len(rows)
    assert summary["counts"]["input"] == len(rows)
    assert not [q for q in quarantined if q["reason"] == "convert_error"], quarantined
    for conv in accepted:
        assert validate_conversation(conv) is None
