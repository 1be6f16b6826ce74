"""Self-Instruct's DuoRC task "Build a movie plot around this: <question> <answer>" -> a plot summary.

The file asks ~18 questions about each of 11 plots (Wikipedia / IMDb synopses), so one plot is kept
once, under its first question; later rows of the same plot are quarantined as `duplicate_plot`.
Eight of the 11 plots were cut at ~2,000 characters and end in "..." (178 of 199 rows): a story that
stops mid-sentence teaches stopping there, so those rows are quarantined as `cut_off_plot`.
Wikipedia maintenance banners, "(citation needed)" and a synopsis author's signature are removed;
the literal `<|endoftext|>` ending every row and the mojibake ("naÃ¯ve") are the content guard's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from emergent.data.formats._common import field, pair
from emergent.data.formats.counsel_chat import rejoin_sentences
from emergent.data.guard import SPECIAL_TOKEN

CATEGORY = "creative"
LICENSE = "Apache-2.0 (DuoRC source licence unverified)"

_BANNER = re.compile(
    r"^This article's plot summary may be too long or excessively detailed\..*?"
    r"\(Learn how and when to remove this template message\)\s*",
    re.S,
)
_CITATION = re.compile(r"\s*\((?:citation needed|clarification needed)\)", re.I)
# IMDb synopses end with their author: "..., Douglas Young (the-movie-guy)".
_SIGNATURE = re.compile(r"[,;]?\s+[A-Z][\w.'-]+(?: [A-Z][\w.'-]+)+ \([\w.-]+\)\s*$")


def plot_text(completion: str) -> str:
    """The plot as a reader should see it: no banner, citation tags or signature, sentences rejoined."""
    text = _BANNER.sub("", completion.strip())
    text = _CITATION.sub("", text)
    body = SPECIAL_TOKEN.sub("", text).rstrip()
    if _SIGNATURE.search(body):
        text = _SIGNATURE.sub("", body).rstrip() + "."
    # Plot summaries were scraped like Counsel Chat's answers: paragraph breaks lost ("fast.Desolation").
    return rejoin_sentences(text)


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    """The file's rows, with cut-off plots and repeats of a plot already read turned into BadRows."""
    from emergent.data.readers import BadRow, iter_hub_rows, iter_rows

    files = [iter_hub_rows(source.hub, source.hub_config, source.split)] if source.hub else map(iter_rows, source.files)
    seen: set[str] = set()
    for reader in files:
        for origin, row in reader:
            completion = row.get("completion") if isinstance(row, dict) else None
            if isinstance(completion, str):
                plot = SPECIAL_TOKEN.sub("", plot_text(completion)).strip()
                if plot.endswith(("...", "…")):
                    yield origin, BadRow(origin, "cut_off_plot", json.dumps(row, ensure_ascii=False))
                    continue
                key = " ".join(plot.split()).lower()
                if key in seen:
                    yield origin, BadRow(origin, "duplicate_plot", json.dumps(row, ensure_ascii=False))
                    continue
                seen.add(key)
            yield origin, row


def convert(row: dict, source: object) -> dict:
    return pair(field(row, "prompt"), plot_text(field(row, "completion")))
