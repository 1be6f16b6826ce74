"""Counsel Chat (nbertagnolli/counsel-chat): licensed therapists answering people's questions.

questionTitle + questionText -> user; answerText -> assistant. One row per answer, so a question
with several answers yields several conversations (the dedup stage sees the shared prompt).
The scrape repeats some answers verbatim (120 of 2,129 rows of the 2020-03-25 file): a repeat of
an earlier row of the same source is quarantined as `duplicate_row`, so record ids stay unique.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

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


# Line breaks the scrape lost, seen in the 2020-03-25 file: "office.)There", "sleepMental: how we",
# "tips:Physical:", "Hello,While", "Warm regards,Shawn".
_CLOSER_JOIN = re.compile(r"([a-z][.!?][)”’]+)(?=[A-Z])")
_QUOTE_JOIN = re.compile(r'[a-z][.!?]"(?=[A-Z])')
_COLON_JOIN = re.compile(r"(?<=[a-z])([:;,])(?=[A-Z][a-z])")
_CASE_JOIN = re.compile(r"(\S*?[a-z]{2})(?=[A-Z][a-z])")


def repair_joins(text: str) -> str:
    """Put back the breaks between lines the scrape glued together, leaving URLs and names alone."""
    text = rejoin_sentences(text)
    text = _CLOSER_JOIN.sub(r"\1 ", text)
    # A straight quote after a full stop closes a quotation when an odd number of quotes precede it.
    out, last = [], 0
    for m in _QUOTE_JOIN.finditer(text):
        quote = m.end() - 1
        closes = text.count('"', 0, quote) % 2 == 1
        out.append(text[last : quote + 1] + " " if closes else text[last:quote] + ' "')
        last = quote + 1
    text = "".join(out) + text[last:]
    text = _COLON_JOIN.sub(lambda m: m.group(1) + ("\n" if m.group(1) != ";" else " "), text)

    def case_join(m: re.Match[str]) -> str:
        token = m.group(1)
        # "www.site.com/guideHope" splits, "watch?v=nmJx" and "MacArthur" do not.
        if token[:1].isupper() or any(c in token for c in "?=#&+@"):
            return token
        return token + "\n"

    return _CASE_JOIN.sub(case_join, text)


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    """The source's rows, with verbatim repeats (same question, same answer) turned into BadRows."""
    from emergent.data.readers import BadRow, iter_hub_rows, iter_rows

    files = [iter_hub_rows(source.hub, source.hub_config, source.split)] if source.hub else map(iter_rows, source.files)
    seen: set[bytes] = set()
    for reader in files:
        for origin, row in reader:
            if isinstance(row, dict):
                key = "\x00".join(str(row.get(k)) for k in ("questionTitle", "questionText", "answerText"))
                digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
                if digest in seen:
                    yield origin, BadRow(origin, "duplicate_row", json.dumps(row, ensure_ascii=False))
                    continue
                seen.add(digest)
            yield origin, row


def convert(row: dict, source: object) -> dict:
    title = field(row, "questionTitle", required=False).strip()
    body = field(row, "questionText", required=False).strip()
    if not title and not body:
        field(row, "questionText")  # raises missing_field naming the column
    # A few posts repeat the title as the first line of the text; do not say it twice.
    question = f"{title}\n\n{body}" if title and body and not body.startswith(title) else body or title
    return pair(question, repair_joins(field(row, "answerText")))
