"""The one record: a conversation with metadata kept beside the messages, never inside them.

A record is a plain dict (fast to build and serialise at millions of rows):

    {
      "messages": [{"role": "user", "content": "..."},
                   {"role": "assistant", "content": "...",
                    "tool_calls": [{"id": "call_0", "type": "function",
                                    "function": {"name": "f", "arguments": "{\\"x\\": 1}"}}]},
                   {"role": "tool", "content": "...", "tool_call_id": "call_0", "name": "f"}],
      "tools": [{"type": "function", "function": {"name": "f", "description": "...",
                                                    "parameters": {JSON schema}}}, ...] or None,
      "_id": "...", "_source": "gsm8k", "_category": "analytical" or None,
      "_license": "MIT", "_origin": "train.jsonl:12",
    }

`validate_conversation` returns the reason a record is unusable, or None.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NotRequired, TypedDict

import orjson

CATEGORIES: tuple[str, ...] = (
    "technical",
    "instructional",
    "analytical",
    "conversational",
    "empathetic",
    "creative",
    "tool_use",
    "factual",
    "ethical",
    "specialized",
)

# The seed's domain names map onto the ten behavioural buckets.
CATEGORY_ALIASES: dict[str, str] = {
    "psychology_emotional": "empathetic",
    "tool_api": "tool_use",
    "multiturn_dialog": "conversational",
    "adversarial_moral": "ethical",
    "advanced_reasoning": "analytical",
    "creative_writing": "creative",
    "code_technical": "technical",
    "factual_grounding": "factual",
}

ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")
META_KEYS: tuple[str, ...] = ("_id", "_source", "_category", "_license", "_origin")
# Optional columns a reader may set beside the messages: a preference pair's final replies
# (hh-rlhf), for users who train with DPO later; the prompt is every message before the last.
PAIR_KEYS: tuple[str, ...] = ("_chosen", "_rejected")


class Function(TypedDict):
    name: str
    arguments: str  # JSON text, as in the OpenAI format


class ToolCall(TypedDict):
    id: str
    type: str
    function: Function


class Message(TypedDict):
    role: str
    content: str
    tool_calls: NotRequired[list[ToolCall] | None]
    tool_call_id: NotRequired[str | None]
    name: NotRequired[str | None]


Conversation = dict[str, Any]


def normalize_category(name: str | None) -> str | None:
    """Map a bucket name or a seed alias onto one of CATEGORIES; raise ValueError otherwise."""
    if name is None:
        return None
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = CATEGORY_ALIASES.get(key, key)
    if key not in CATEGORIES:
        known = ", ".join(CATEGORIES)
        aliases = ", ".join(CATEGORY_ALIASES)
        raise ValueError(f"unknown category {name!r}: use one of {known} (or a seed alias: {aliases})")
    return key


def tool_call(name: str, arguments: dict[str, Any] | str, index: int = 0) -> ToolCall:
    """Build an OpenAI-style tool call; `arguments` is stored as JSON text."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, sort_keys=True)
    return {"id": f"call_{index}", "type": "function", "function": {"name": name, "arguments": args}}


def tool_function(tool: dict) -> dict:
    """The function schema inside a `tools` entry: `{name, description, parameters}`, from either shape."""
    if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        return tool["function"]
    return tool


def openai_tools(tools: list[dict] | None) -> list[dict] | None:
    """`tools` in the OpenAI shape `{"type": "function", "function": {...}}`; bare function schemas are wrapped.

    Records store this shape (what chat templates with tool support and OpenAI-style servers expect);
    readers and configs that still write bare `{name, description, parameters}` schemas keep working.
    """
    if not tools:
        return None
    return [{"type": "function", "function": tool_function(t)} if isinstance(t, dict) else t for t in tools]


def make_id(source: str, messages: list[Message], tools: list[dict] | None = None) -> str:
    """Stable id from the source name and the content: the same record always gets the same id."""
    h = hashlib.blake2b(digest_size=12)
    h.update(source.encode())
    h.update(b"\x00")
    h.update(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS))
    if tools:
        h.update(orjson.dumps(tools, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def make_conversation(
    messages: list[Message],
    *,
    source: str,
    origin: str,
    category: str | None = None,
    license: str | None = None,
    tools: list[dict] | None = None,
) -> Conversation:
    """Assemble a record with its metadata beside the messages (`tools` stored in the OpenAI shape)."""
    tools = openai_tools(tools)
    return {
        "messages": messages,
        "tools": tools,
        "_id": make_id(source, messages, tools),
        "_source": source,
        "_category": category,
        "_license": license,
        "_origin": origin,
    }


def validate_conversation(conv: Conversation) -> str | None:
    """Return why the conversation cannot be trained on, or None when it is well formed.

    Rules: at least one user and one assistant turn; system only first; no two user turns in a row;
    the first non-system turn is the user's; every assistant turn has text or tool calls; every tool
    message answers a tool call; tool-call arguments are JSON; every `tools` entry is a function schema
    with a name (OpenAI shape, or the bare schema it wraps).
    """
    messages = conv.get("messages")
    if not isinstance(messages, list) or not messages:
        return "no_messages"
    tools = conv.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            return "bad_tool_schema"
        for t in tools:
            fn = tool_function(t)
            if not isinstance(fn.get("name"), str) or not isinstance(fn.get("parameters", {}), dict):
                return "bad_tool_schema"
    prev = None
    pending_calls = 0
    saw_user = saw_assistant = False
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ROLES:
            return "unknown_role"
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            return "non_text_content"
        text = (content or "").strip()
        if role == "system":
            if i != 0:
                return "wrong_role_order"
            continue
        if prev is None and role != "user":
            return "wrong_role_order"
        if role == "user":
            if prev == "user":
                return "wrong_role_order"
            if not text:
                return "empty_user_turn"
            saw_user = True
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            if not text and not calls:
                return "empty_assistant_turn"
            for c in calls:
                try:
                    json.loads(c["function"]["arguments"])
                except (KeyError, TypeError, ValueError):
                    return "bad_tool_call"
            pending_calls = len(calls)
            saw_assistant = True
        elif role == "tool":
            if prev not in ("assistant", "tool") or pending_calls <= 0:
                return "wrong_role_order"
            pending_calls -= 1
        prev = role
    if not saw_user:
        return "no_user_turn"
    if not saw_assistant:
        return "no_assistant_turn"
    return None


def conversation_text(conv: Conversation) -> str:
    """Plain text of every turn (role-prefixed), for dedup, classification and previews. No metadata."""
    parts = []
    for m in conv["messages"]:
        parts.append(f"{m['role']}: {m.get('content') or ''}")
        for c in m.get("tool_calls") or []:
            parts.append(f"{m['role']} call {c['function']['name']}({c['function']['arguments']})")
    return "\n".join(parts)
