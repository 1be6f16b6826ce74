"""Berkeley Function Calling Leaderboard (BFCL v4): questions + gold calls -> tool-use conversations.

Single-turn files (simple, multiple, parallel, parallel_multiple): the question is the user turn, the
`function` list becomes `tools` (OpenAI shape; BFCL's Python type names such as "dict"/"float" turned
into JSON schema's "object"/"number"), and the gold answer from `possible_answer/<same file name>` becomes one
assistant turn with one tool call per gold call (several for the parallel files). Each gold argument
lists its allowed values; we take the first non-empty one and drop optional arguments whose only
allowed value is "" (BFCL's "may be omitted").

Multi-turn (`multi_turn_*`): each user turn is followed by one assistant turn holding that turn's gold
calls, in order (call strings such as "cd(folder='document')" parsed with `ast`); tools come from the
involved classes' docs in `multi_turn_func_doc/`, minus `excluded_function`. BFCL has no tool results
in its data (they come from executing the calls), and we do not invent them, so the assistant turn
with calls is followed directly by the next user turn (valid role order: a tool message is optional).
A turn whose gold answer is empty (the model should act without calling anything) has no assistant
text we could train on, so the record is quarantined (`turn_without_calls`) rather than rewritten.

So every BFCL record is call-only: it teaches choosing the function and filling its arguments, not
reading a result or answering from it (SGD teaches that). The build's manifest counts call-only
records per source (`window.sources.<name>.call_only`). Multi-turn records carry every function of
their classes (median ~3,900 tokens); the build trims them to the called functions, or leaves them
out, when they do not fit `training.max_seq_len` (curate/window.py).

Companion files are found next to the question file, so a copied folder keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import assistant
from emergent.data.formats.bfcl_calls import gold_arguments, parse_call, tool_schema
from emergent.data.readers import BadRow, Row, iter_rows
from emergent.errors import Reject
from emergent.schema import tool_call

CATEGORY = "tool_use"
LICENSE = "Apache-2.0"

# BFCL's own mapping from class name to its function-doc file (bfcl_eval/constants).
FUNC_DOC_FILES = {
    "GorillaFileSystem": "gorilla_file_system.json",
    "MathAPI": "math_api.json",
    "MessageAPI": "message_api.json",
    "TwitterAPI": "posting_api.json",
    "TicketAPI": "ticket_api.json",
    "TradingBot": "trading_bot.json",
    "TravelAPI": "travel_booking.json",
    "VehicleControlAPI": "vehicle_control.json",
    "WebSearchAPI": "web_search.json",
    "MemoryAPI_kv": "memory_kv.json",
    "MemoryAPI_vector": "memory_vector.json",
    "MemoryAPI_rec_sum": "memory_rec_sum.json",
}


def _jsonl_by_key(path: Path, key: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if not path.is_file():
        return out
    for _, row in iter_rows(path):
        if isinstance(row, dict) and key in row:
            out[str(row[key])] = row
    return out


def _func_docs(folder: Path) -> dict[str, list[dict]]:
    """Class name -> its function docs, for the classes whose doc file is present."""
    docs: dict[str, list[dict]] = {}
    for cls, name in FUNC_DOC_FILES.items():
        path = folder / name
        if path.is_file():
            docs[cls] = [row for _, row in iter_rows(path) if isinstance(row, dict)]
    return docs


def rows(source: Any) -> Iterator[Row]:
    """Each question joined with its gold answer (`_answer`, None when absent) and, for multi-turn, its class docs."""
    for path in source.files:
        path = Path(path)
        answers = {
            k: v.get("ground_truth")
            for k, v in _jsonl_by_key(path.parent / "possible_answer" / path.name, "id").items()
        }
        docs: dict[str, list[dict]] | None = None
        for origin, row in iter_rows(path):
            if isinstance(row, BadRow):
                yield origin, row
                continue
            row = {**row, "_answer": answers.get(str(row.get("id")))}
            if "involved_classes" in row:
                if docs is None:
                    docs = _func_docs(path.parent / "multi_turn_func_doc")
                row["_func_docs"] = {c: docs[c] for c in row["involved_classes"] if c in docs}
            yield origin, row


def convert(row: dict, source: Any) -> dict:
    if row.get("_answer") is None:
        raise Reject("missing_answer", f"no gold answer for id {row.get('id')!r} in possible_answer/")
    if "involved_classes" in row:
        return _multi_turn(row)
    return _single_turn(row)


def _turn_messages(turn: Any, where: str) -> list[dict]:
    if not isinstance(turn, list) or not turn:
        raise Reject("missing_field", f"{where} has no messages")
    out = []
    for m in turn:
        if not isinstance(m, dict) or m.get("role") not in ("user", "system") or not isinstance(m.get("content"), str):
            raise Reject("wrong_field_type", f"{where}: expected user/system messages with text")
        out.append({"role": m["role"], "content": _unquoted(m["content"].strip())})
    return out


def _unquoted(text: str) -> str:
    """Some BFCL questions are wrapped in a stray pair of double quotes; drop it when nothing else is quoted."""
    if len(text) > 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1]:
        return text[1:-1].strip()
    return text


def _single_turn(row: dict) -> dict:
    question = row.get("question")
    if not isinstance(question, list) or len(question) != 1:
        raise Reject("missing_field", "question is not one turn")
    functions = row.get("function")
    if not isinstance(functions, list) or not functions:
        raise Reject("missing_field", "no 'function' list")
    tools = [tool_schema(f) for f in functions]
    names = {t["name"] for t in tools}
    gold = row["_answer"]
    if not isinstance(gold, list) or not gold:
        raise Reject("bad_answer", "ground_truth is not a non-empty list")
    calls = []
    for i, entry in enumerate(gold):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise Reject("bad_answer", f"ground_truth[{i}] is not {{function: arguments}}")
        ((name, args),) = entry.items()
        if name not in names:
            raise Reject("unknown_function", f"gold call {name!r} is not among the functions")
        calls.append(tool_call(name, gold_arguments(args, f"ground_truth[{i}].{name}"), i))
    return {
        "messages": [*_turn_messages(question[0], "question[0]"), assistant("", calls)],
        "tools": tools,
    }


def _multi_turn(row: dict) -> dict:
    classes = row.get("involved_classes") or []
    docs = row.get("_func_docs") or {}
    missing = [c for c in classes if c not in docs]
    if missing:
        raise Reject("missing_func_doc", f"no multi_turn_func_doc/ file for {missing}")
    excluded = set(row.get("excluded_function") or [])
    tools = [tool_schema(f) for c in classes for f in docs[c] if f.get("name") not in excluded]
    by_name = {t["name"]: t for t in tools}
    question, gold = row.get("question"), row["_answer"]
    if not isinstance(question, list) or not isinstance(gold, list) or len(question) != len(gold):
        raise Reject(
            "bad_answer", f"{len(gold) if isinstance(gold, list) else 'no'} gold turns for the question's turns"
        )
    messages: list[dict] = []
    for t, (turn, calls) in enumerate(zip(question, gold, strict=True)):
        if not calls:
            raise Reject("turn_without_calls", f"turn {t} has no gold calls and no assistant text to train on")
        messages.extend(_turn_messages(turn, f"question[{t}]"))
        parsed = [parse_call(c, by_name) for c in calls]
        messages.append(assistant("", [tool_call(name, args, i) for i, (name, args) in enumerate(parsed)]))
    return {"messages": messages, "tools": tools}
