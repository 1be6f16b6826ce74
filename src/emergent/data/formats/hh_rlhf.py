"""Anthropic HH-RLHF: the `chosen` transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") as turns.

Mixed content (helpful chat, red-team prompts), so CATEGORY is None and the classifier decides.
`rejected` is not used: this is supervised data, not preference pairs.
"""

from __future__ import annotations

import re

from emergent.data.formats._common import assistant, field, user
from emergent.errors import Reject

CATEGORY = None
LICENSE = "MIT"

_TURN = re.compile(r"\n\n(Human|Assistant):")
# A speaker label inside a turn is a generation artifact; training on it teaches the model to speak for the user.
_INLINE_SPEAKER = re.compile(r"\b(Human|Assistant):")


def parse_transcript(text: str) -> list[dict]:
    """Human/Assistant turns of one transcript; Reject when they do not alternate or one is empty."""
    pieces = _TURN.split("\n\n" + text.lstrip("\n"))
    if pieces[0].strip():
        raise Reject("malformed_transcript", 'text before the first "Human:" turn')
    speakers, texts = pieces[1::2], pieces[2::2]
    if not speakers:
        raise Reject("malformed_transcript", 'no "\\n\\nHuman:" / "\\n\\nAssistant:" turns')
    messages = []
    for i, (speaker, content) in enumerate(zip(speakers, texts, strict=True)):
        expected = "Human" if i % 2 == 0 else "Assistant"
        if speaker != expected:
            raise Reject(
                "malformed_transcript", f"turn {i + 1} is {speaker}, expected {expected} (turns must alternate)"
            )
        if not content.strip():
            raise Reject("malformed_transcript", f"turn {i + 1} ({speaker}) is empty")
        inline = _INLINE_SPEAKER.search(content)
        if inline:
            raise Reject(
                "malformed_transcript", f"turn {i + 1} ({speaker}) contains an inline {inline.group(0)!r} label"
            )
        messages.append(user(content) if speaker == "Human" else assistant(content))
    if speakers[-1] != "Assistant":
        raise Reject("malformed_transcript", "the transcript ends with a Human turn that has no answer")
    return messages


def convert(row: dict, source: object) -> dict:
    return {"messages": parse_transcript(field(row, "chosen")), "tools": None}
