"""Self-Instruct's DuoRC task "Build a movie plot around this: <question> <answer>" -> a plot summary."""

from __future__ import annotations

from emergent.data.formats._common import field, pair
from emergent.data.formats.counsel_chat import rejoin_sentences

CATEGORY = "creative"
LICENSE = "Apache-2.0 (DuoRC source licence unverified)"


def convert(row: dict, source: object) -> dict:
    # Plot summaries were scraped like Counsel Chat's answers: paragraph breaks lost ("fast.Desolation").
    return pair(field(row, "prompt"), rejoin_sentences(field(row, "completion")))
