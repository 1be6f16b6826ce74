"""Generic formats, each with a `column_map` from the format's field names to the file's columns.

alpaca: instruction / input / output.  sharegpt: conversations / from / value.
openai: messages (+ tools, tool_calls).  prompt_completion: prompt / completion.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from emergent.data.formats._common import assistant, field, pair
from emergent.errors import Reject
from emergent.schema import tool_call

CATEGORY = None
LICENSE = None

DEFAULT_COLUMNS: dict[str, dict[str, str]] = {
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output", "system": "system"},
    "sharegpt": {
        "conversations": "conversations",
        "from": "from",
        "value": "value",
        "system": "system",
        "tools": "tools",
    },
    "openai": {"messages": "messages", "tools": "tools"},
    "prompt_completion": {"prompt": "prompt", "completion": "completion"},
}

_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


@functools.cache
def _columns(flavour: str, column_map: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {**DEFAULT_COLUMNS[flavour], **dict(column_map)}


def check_column_map(flavour: str, column_map: dict[str, str]) -> None:
    """Raise ValueError naming the unknown fields (called when the config is validated)."""
    unknown = set(column_map) - set(DEFAULT_COLUMNS[flavour])
    if unknown:
        raise ValueError(
            f"column_map: {flavour} has no field(s) {sorted(unknown)}; known fields: {sorted(DEFAULT_COLUMNS[flavour])}"
        )


def convert(row: dict, source: Any, flavour: str) -> dict:
    cols = _columns(flavour, tuple(sorted(source.column_map.items())))
    return _CONVERTERS[flavour](row, cols)


def _alpaca(row: dict, cols: dict[str, str]) -> dict:
    instruction = field(row, cols["instruction"])
    extra = field(row, cols["input"], required=False).strip()
    prompt = f"{instruction.strip()}\n\n{extra}" if extra else instruction
    conv = pair(prompt, field(row, cols["output"], required=False))
    sys_text = field(row, cols["system"], required=False).strip()
    if sys_text:
        conv["messages"].insert(0, {"role": "system", "content": sys_text})
    return conv


def _prompt_completion(row: dict, cols: dict[str, str]) -> dict:
    return pair(field(row, cols["prompt"]), field(row, cols["completion"], required=False))


def _loads_if_text(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise Reject("malformed_json", f"{what} is text but not JSON") from None
    return value


def _sharegpt(row: dict, cols: dict[str, str]) -> dict:
    turns = _loads_if_text(row.get(cols["conversations"]), "conversations")
    if not isinstance(turns, list) or not turns:
        raise Reject("missing_field", f"no {cols['conversations']!r} list")
    messages: list[dict] = []
    sys_text = row.get(cols["system"])
    if isinstance(sys_text, str) and sys_text.strip():
        messages.append({"role": "system", "content": sys_text.strip()})
    for turn in turns:
        if not isinstance(turn, dict):
            raise Reject("wrong_field_type", "a turn is not an object")
        speaker = str(turn.get(cols["from"], "")).strip().lower()
        role = _SHAREGPT_ROLES.get(speaker)
        if role is None:
            raise Reject("unknown_role", f"speaker {speaker!r}")
        text = turn.get(cols["value"])
        if not isinstance(text, str):
            raise Reject("missing_field", f"a turn has no {cols['value']!r} text")
        if speaker == "function_call":
            call = _loads_if_text(text, "function_call")
            if not isinstance(call, dict) or "name" not in call:
                raise Reject("bad_tool_call", "function_call turn is not {name, arguments}")
            messages.append(assistant("", [tool_call(call["name"], call.get("arguments") or {})]))
        elif role == "tool":
            messages.append({"role": "tool", "content": text, "tool_call_id": "call_0"})
        else:
            messages.append({"role": role, "content": text.strip()})
    tools = _loads_if_text(row.get(cols["tools"]), "tools") or None
    return {"messages": messages, "tools": tools}


def _openai(row: dict, cols: dict[str, str]) -> dict:
    raw = _loads_if_text(row.get(cols["messages"]), "messages")
    if not isinstance(raw, list) or not raw:
        raise Reject("missing_field", f"no {cols['messages']!r} list")
    messages = []
    for m in raw:
        if not isinstance(m, dict) or "role" not in m:
            raise Reject("wrong_field_type", "a message is not an object with a role")
        content = m.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content is not None and not isinstance(content, str):
            raise Reject("wrong_field_type", "message content is not text")
        msg: dict[str, Any] = {
            "role": m["role"],
            "content": (content or "").strip() if m["role"] != "tool" else content or "",
        }
        if m.get("tool_calls"):
            calls = []
            for i, c in enumerate(m["tool_calls"]):
                fn = c.get("function") if isinstance(c, dict) else None
                if not isinstance(fn, dict) or "name" not in fn:
                    raise Reject("bad_tool_call", "tool call without function name")
                args = fn.get("arguments", {})
                if isinstance(args, str):
                    try:
                        json.loads(args)
                    except ValueError:
                        raise Reject("bad_tool_call", "tool call arguments are not JSON") from None
                call = tool_call(fn["name"], args, i)
                if c.get("id"):
                    call["id"] = str(c["id"])
                calls.append(call)
            msg["tool_calls"] = calls
        if m.get("tool_call_id"):
            msg["tool_call_id"] = str(m["tool_call_id"])
        if m.get("name"):
            msg["name"] = str(m["name"])
        messages.append(msg)
    tools = _loads_if_text(row.get(cols["tools"]), "tools") or None
    if tools is not None:
        if not isinstance(tools, list):
            raise Reject("wrong_field_type", "tools is not a list of JSON schemas")
        tools = [
            t["function"] if isinstance(t, dict) and t.get("type") == "function" and "function" in t else t
            for t in tools
        ]
    return {"messages": messages, "tools": tools}


_CONVERTERS = {"alpaca": _alpaca, "sharegpt": _sharegpt, "openai": _openai, "prompt_completion": _prompt_completion}
