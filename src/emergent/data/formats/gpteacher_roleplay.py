"""GPTeacher role-play (teknium1/GPTeacher, Roleplay/): a request to play a character -> the reply in character.

Alpaca-shaped rows {instruction, input, response}. The instruction sets the character and the task;
a non-empty input (443 of 1,923) follows it in the same user turn after a blank line. Both go in the
user turn rather than instruction-as-system-prompt because (a) the quickstart chat and the evaluation
suite talk without a system prompt, so role-play asked for by the user is what the model meets, and
(b) many inputs are scenario details ("The individual has invested 50% in index funds ..."), which on
their own would read as a non sequitur from the user. A response made only of sound effects or stage
directions ("*Grrrrowwwrrr wrrhwrwwhw wraaargh*") teaches nothing to say and is quarantined.
"""

from __future__ import annotations

import re

from emergent.data.formats._common import field, pair
from emergent.errors import Reject

CATEGORY = "creative"
LICENSE = "MIT"

# *stage directions* and *sound effects* between asterisks.
ACTION = re.compile(r"\*[^*\n]*\*")
WORD = re.compile(r"[^\W\d_]{2,}")


def spoken(response: str) -> str:
    """The response without its *asterisk* actions: what the character actually says."""
    return ACTION.sub(" ", response).strip()


def convert(row: dict, source: object) -> dict:
    instruction = field(row, "instruction").strip()
    extra = field(row, "input", required=False).strip()
    response = field(row, "response").strip()
    if not WORD.search(spoken(response)):
        raise Reject("sound_effects_only", f"nothing but sound effects or actions: {response[:80]!r}")
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    return pair(prompt, response)
