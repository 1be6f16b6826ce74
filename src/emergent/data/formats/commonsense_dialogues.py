"""Commonsense-Dialogues: short everyday conversations; the first speaker is the user.

Turns alternate (user first). The `context` is a third-person scene description written for the
crowd workers ("Robin went to Las Vegas and ...") and `speaker` names the person in it; neither reads
naturally as something the user says, and a system message would condition the model on metadata,
so both are dropped. A trailing user turn with no reply is dropped. Research-only (CC BY-NC 4.0).
"""

from __future__ import annotations

from typing import Any

from emergent.data.formats.topical_chat import alternate
from emergent.errors import Reject

CATEGORY = "conversational"
LICENSE = "CC-BY-NC-4.0"


def convert(row: dict, source: Any) -> dict:
    turns = row.get("turns")
    if not isinstance(turns, list) or not turns:
        raise Reject("missing_field", "no 'turns' list")
    if not all(isinstance(t, str) and t.strip() for t in turns):
        raise Reject("empty_turn", "a turn is empty or not text")
    messages = alternate([("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)])
    if not messages:
        raise Reject("no_assistant_turn", "a single turn with no reply")
    return {"messages": messages, "tools": None}
