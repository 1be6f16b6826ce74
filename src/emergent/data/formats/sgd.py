"""Schema-Guided Dialogue (DSTC8): multi-turn USER/SYSTEM dialogues with real service calls and results.

USER turns become user messages. A SYSTEM turn whose frames carry a `service_call` becomes an
assistant tool call (name = the intent/method, arguments = its parameters), then a `tool` message
with that call's `service_results` (JSON, first `MAX_RESULTS` results: the system only ever talks
about the first few), then the assistant's utterance. Other SYSTEM turns are plain assistant turns.
`tools` are the JSON schemas of the intents of the dialogue's services, built from `schema.json`
found next to the dialogues file. A trailing USER turn with no reply is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import assistant, user
from emergent.data.readers import BadRow, Row, iter_rows
from emergent.errors import ConfigError, Reject
from emergent.schema import tool_call

CATEGORY = "tool_use"
LICENSE = "CC-BY-SA-4.0"
MAX_RESULTS = 3


def intent_tools(service: dict) -> list[dict]:
    """One JSON-schema function per intent of an SGD service."""
    slots = {s["name"]: s for s in service.get("slots", [])}
    tools = []
    for intent in service.get("intents", []):
        optional = intent.get("optional_slots") or {}
        properties: dict[str, dict] = {}
        for name in [*intent.get("required_slots", []), *optional]:
            slot = slots.get(name, {})
            prop: dict[str, Any] = {"type": "string", "description": slot.get("description", name)}
            if slot.get("is_categorical") and slot.get("possible_values"):
                prop["enum"] = list(slot["possible_values"])
            if name in optional:
                prop["default"] = optional[name]
            properties[name] = prop
        tools.append(
            {
                "name": intent["name"],
                "description": f"{intent.get('description', '')} ({service['service_name']})".strip(),
                "parameters": {
                    "type": "object",
                    "properties": properties,
                    "required": list(intent.get("required_slots", [])),
                },
            }
        )
    return tools


def _schema(folder: Path) -> dict[str, dict]:
    path = folder / "schema.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: SGD dialogues need the schema.json of their split next to them")
    return {s["service_name"]: s for s in json.loads(path.read_text(encoding="utf-8"))}


def rows(source: Any) -> Iterator[Row]:
    """Each dialogue with `_services`: the schema.json entries of the services it uses."""
    schemas: dict[Path, dict[str, dict]] = {}
    for path in source.files:
        folder = Path(path).parent
        if folder not in schemas:
            schemas[folder] = _schema(folder)
        for origin, row in iter_rows(path):
            if not isinstance(row, BadRow):
                services = row.get("services") or []
                row = {**row, "_services": {s: schemas[folder][s] for s in services if s in schemas[folder]}}
            yield origin, row


def convert(row: dict, source: Any) -> dict:
    turns = row.get("turns")
    if not isinstance(turns, list) or not turns:
        raise Reject("missing_field", "no 'turns' list")
    services = row.get("_services") or {}
    missing = [s for s in row.get("services") or [] if s not in services]
    if missing:
        raise Reject("missing_schema", f"services {missing} are not in schema.json")
    tools: list[dict] = []
    for service in services.values():
        tools.extend(t for t in intent_tools(service) if t["name"] not in {x["name"] for x in tools})
    messages: list[dict] = []
    for t, turn in enumerate(turns):
        speaker, text = turn.get("speaker"), turn.get("utterance")
        if not isinstance(text, str) or not text.strip():
            raise Reject("missing_field", f"turn {t} has no utterance")
        if speaker == "USER":
            messages.append(user(text))
        elif speaker == "SYSTEM":
            messages.extend(_system_turn(turn, text))
        else:
            raise Reject("unknown_role", f"turn {t} speaker {speaker!r}")
    if messages and messages[-1]["role"] == "user":
        messages.pop()
    return {"messages": messages, "tools": tools}


def _system_turn(turn: dict, text: str) -> list[dict]:
    frames = [f for f in turn.get("frames", []) if f.get("service_call")]
    if not frames:
        return [assistant(text)]
    calls, results = [], []
    for i, frame in enumerate(frames):
        call = frame["service_call"]
        calls.append(tool_call(call["method"], call.get("parameters") or {}, i))
        shown = (frame.get("service_results") or [])[:MAX_RESULTS]
        results.append(
            {
                "role": "tool",
                "content": json.dumps(shown, ensure_ascii=False),
                "tool_call_id": f"call_{i}",
                "name": call["method"],
            }
        )
    return [assistant("", calls), *results, assistant(text)]
