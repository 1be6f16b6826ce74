"""Schema-Guided Dialogue (DSTC8): multi-turn USER/SYSTEM dialogues with real service calls and results.

USER turns become user messages. A SYSTEM turn whose frames carry a `service_call` becomes an
assistant tool call (name = the intent/method, arguments = its parameters), then a `tool` message
with that call's `service_results` (JSON, first `MAX_RESULTS` results: the system only ever talks
about the first few), then the assistant's utterance, which answers from those results. Other SYSTEM
turns are plain assistant turns. A trailing USER turn with no reply is dropped.

`tools` are the intents of the dialogue's services (OpenAI shape), built from `schema.json` found
next to the dialogues file, without the dataset's internals: no "(Flights_3)" service suffix, and no
`"default": "dontcare"` (SGD's word for "the user does not care", not a value a caller would send).

Dates. Calls carry ISO dates ("2019-03-01") that users say relatively ("today", "the 6th", "next
Tuesday"); SGD's simulator fixed one current date per split, which nothing in a dialogue states. So a
dialogue whose calls carry a date opens with a system line giving that date ("Today is Friday,
1 March 2019."), derived from the rows: a call whose date slot the user filled with "today",
"tomorrow" or "day after tomorrow" gives it (date minus 0, 1, 2 days). A dialogue without such a
slot takes the date every derivation in its file agrees on; where none can be derived, the dialogue
is quarantined (`undated_call`) rather than trained to invent dates.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import assistant, system, user
from emergent.data.readers import BadRow, Row, iter_rows
from emergent.errors import ConfigError, Reject
from emergent.schema import tool_call

CATEGORY = "tool_use"
LICENSE = "CC-BY-SA-4.0"
MAX_RESULTS = 3
# SGD's canonical value for "any": a slot the user left open, never a default to call with.
DONTCARE = "dontcare"
# Relative dates users say, as days after the current date (the ones that fix it unambiguously).
RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "day after tomorrow": 2, "the day after tomorrow": 2}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def intent_tools(service: dict) -> list[dict]:
    """One OpenAI-shaped function per intent of an SGD service."""
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
            if name in optional and optional[name] != DONTCARE:
                prop["default"] = optional[name]
            properties[name] = prop
        function = {
            "name": intent["name"],
            "description": str(intent.get("description", "")).strip(),
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(intent.get("required_slots", [])),
            },
        }
        tools.append({"type": "function", "function": function})
    return tools


def _schema(folder: Path) -> dict[str, dict]:
    path = folder / "schema.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: SGD dialogues need the schema.json of their split next to them")
    return {s["service_name"]: s for s in json.loads(path.read_text(encoding="utf-8"))}


def rows(source: Any) -> Iterator[Row]:
    """Each dialogue with `_services` (the schema.json entries of its services) and `_today` (ISO date or None)."""
    schemas: dict[Path, dict[str, dict]] = {}
    for path in source.files:
        folder = Path(path).parent
        if folder not in schemas:
            schemas[folder] = _schema(folder)
        # A file is one JSON list, read whole anyway: buffering it lets every dialogue use the file's date.
        file_rows = list(iter_rows(path))
        votes = {origin: current_dates(row) for origin, row in file_rows if not isinstance(row, BadRow)}
        every = set().union(*votes.values()) if votes else set()
        file_today = next(iter(every)) if len(every) == 1 else None
        for origin, row in file_rows:
            if not isinstance(row, BadRow):
                services = row.get("services") or []
                own = votes[origin]
                today = next(iter(own)) if len(own) == 1 else (file_today if not own else None)
                row = {
                    **row,
                    "_services": {s: schemas[folder][s] for s in services if s in schemas[folder]},
                    "_today": today,
                }
            yield origin, row


def current_dates(dialogue: dict) -> set[str]:
    """The current dates a dialogue implies: a call's ISO date minus the relative day the user said for it."""
    out: set[str] = set()
    state: dict[str, dict] = {}  # service -> the user's latest slot values
    for turn in dialogue.get("turns") or []:
        for frame in turn.get("frames") or []:
            if turn.get("speaker") == "USER":
                state[frame.get("service")] = (frame.get("state") or {}).get("slot_values") or {}
            call = frame.get("service_call") or {}
            for slot, value in (call.get("parameters") or {}).items():
                if not (isinstance(value, str) and ISO_DATE.fullmatch(value)):
                    continue
                for said in state.get(frame.get("service"), {}).get(slot, []):
                    days = RELATIVE_DAYS.get(str(said).strip().lower())
                    if days is not None:
                        out.add((dt.date.fromisoformat(value) - dt.timedelta(days=days)).isoformat())
    return out


def today_line(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"Today is {day:%A}, {day.day} {day:%B %Y}."


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
        names = {t["function"]["name"] for t in tools}
        tools.extend(t for t in intent_tools(service) if t["function"]["name"] not in names)
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
    dated = any(ISO_DATE.fullmatch(v) for m in messages for c in m.get("tool_calls") or [] for v in _values(c))
    if dated:
        if not row.get("_today"):
            raise Reject("undated_call", "calls carry dates but nothing in the dialogue or its file gives today's date")
        messages.insert(0, system(today_line(row["_today"])))
    return {"messages": messages, "tools": tools}


def _values(call: dict) -> list[str]:
    return [v for v in json.loads(call["function"]["arguments"]).values() if isinstance(v, str)]


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
