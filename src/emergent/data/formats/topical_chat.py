"""Topical-Chat: knowledge-grounded chit-chat between two crowd workers.

agent_1 -> user, agent_2 -> assistant. Consecutive turns by the same agent are merged, leading
assistant turns are dropped so the dialogue starts with the user, and a trailing user turn is dropped
so it ends with an assistant reply. The per-turn sentiment and knowledge-source labels are metadata
and never reach the text.
"""

from __future__ import annotations

from typing import Any

from emergent.data.formats._common import assistant, user
from emergent.errors import Reject

CATEGORY = "conversational"
LICENSE = "CDLA-Sharing-1.0"

_ROLES = {"agent_1": "user", "agent_2": "assistant"}


def alternate(turns: list[tuple[str, str]]) -> list[dict]:
    """(role, text) turns -> messages that alternate, start with the user and end with the assistant."""
    merged: list[list[str]] = []
    for role, text in turns:
        if merged and merged[-1][0] == role:
            merged[-1][1] += "\n" + text.strip()
        else:
            merged.append([role, text.strip()])
    while merged and merged[0][0] != "user":
        merged.pop(0)
    while merged and merged[-1][0] != "assistant":
        merged.pop()
    return [user(t) if r == "user" else assistant(t) for r, t in merged]


def convert(row: dict, source: Any) -> dict:
    content = row.get("content")
    if not isinstance(content, list) or not content:
        raise Reject("missing_field", "no 'content' list of turns")
    turns = []
    for i, turn in enumerate(content):
        role = _ROLES.get(turn.get("agent")) if isinstance(turn, dict) else None
        if role is None:
            raise Reject("unknown_role", f"turn {i} agent {turn.get('agent') if isinstance(turn, dict) else turn!r}")
        text = turn.get("message")
        if isinstance(text, str) and text.strip():
            turns.append((role, text))
    messages = alternate(turns)
    if not messages:
        raise Reject("no_assistant_turn", "no agent_2 reply after an agent_1 turn")
    return {"messages": messages, "tools": None}
