"""Counsel Chat (nbertagnolli/counsel-chat): licensed therapists answering people's questions.

questionTitle + questionText -> user; answerText -> assistant. One row per answer, so a question
with several answers yields several conversations (the dedup stage sees the shared prompt).
"""

from __future__ import annotations

import re

from emergent.data.formats._common import field, pair

CATEGORY = "empathetic"
LICENSE = "MIT"

# The scrape lost paragraph breaks: "with.Seriously," — put the space back, but leave URLs alone.
_RUN_ON = re.compile(r"(\S*[a-z][.!?])([A-Z])")


def rejoin_sentences(text: str) -> str:
    """Undo scraped run-on sentences ("you.If") and non-breaking spaces, keeping links intact."""

    def fix(m: re.Match[str]) -> str:
        word = m.group(1).lower()
        if "www." in word or "http" in word or "@" in word:
            return m.group(0)
        return f"{m.group(1)} {m.group(2)}"

    return _RUN_ON.sub(fix, text.replace("\xa0", " "))


def convert(row: dict, source: object) -> dict:
    title = field(row, "questionTitle", required=False).strip()
    body = field(row, "questionText", required=False).strip()
    if not title and not body:
        field(row, "questionText")  # raises missing_field naming the column
    # A few posts repeat the title as the first line of the text.
    question = body if not title or body.startswith(title) else f"{title}\n\n{body}" if body else title
    return pair(question, rejoin_sentences(field(row, "answerText")))
