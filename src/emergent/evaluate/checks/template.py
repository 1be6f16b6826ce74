"""A reply that is the side's reply to another kind of request with this one's words put in answers neither.

The checks of open-ended items (the subject named, both sides weighed, some words of its own) can be met by
one fixed text with the request's words inserted: "You mention {the request's words}. That is an interesting
subject … However, …" passed every creative and conversational item and 49 of 50 ethical ones (bench/RESULTS.md,
session 22). Each reply alone looks fine; side by side they are one template. So the primary metric compares
one side's replies: with the request's words blanked out, a reply whose word trigrams mostly coincide with
its reply to a request of another family is a template and fails. A model that answers different requests
with the same text (a stock dodge, a collapsed mode) fails the same way, rightly.

A family is the request template an item was filled in from (`family` in the item file: "We adopted a {x}
yesterday" with puppy, kitten, rabbit …); replies within one family may rightly share their words, so they
are not compared. An item without a family is its own. It applies to items whose checks the request's words
can meet (checks.REQUEST_WORD_CHECKS); a tool call or a short answer is rightly the same shape every time.
"""

from __future__ import annotations

from typing import Any

from emergent.evaluate.checks.text import words

# Jaccard of blanked word trigrams at or above which two replies are one template. On the proof's committed
# replies (bench/RESULTS.md, session 22) it fires on the base model's stock dodges and fillers only.
SAME_TEXT = 0.6


def _shingles(reply: str, request: str) -> frozenset[tuple[str, ...]]:
    """Word trigrams of the reply, the request's words (and runs of them) replaced by one blank."""
    asked = set(words(request))
    blanked: list[str] = []
    for w in words(reply):
        token = "_" if w in asked else w
        if not (token == "_" and blanked and blanked[-1] == "_"):
            blanked.append(token)
    return frozenset(zip(blanked, blanked[1:], blanked[2:], strict=False))


def templates(replies: dict[Any, tuple[str, str, str]], same_text: float = SAME_TEXT) -> dict[Any, tuple[Any, float]]:
    """{key: (the key of another family's reply it repeats, Jaccard)} for `replies` {key: (reply, request,
    family)}, the replies of one side (keys: item ids, or row numbers).

    Replies of fewer than three trigrams once blanked are not compared: they are mostly the request's own
    words, which the `original` check fails."""
    sets = {i: _shingles(reply, request) for i, (reply, request, _) in replies.items()}
    ids = [i for i in replies if len(sets[i]) >= 3]
    out: dict[Any, tuple[Any, float]] = {}
    for n, a in enumerate(ids):
        for b in ids[n + 1 :]:
            if replies[a][2] == replies[b][2]:
                continue
            jaccard = len(sets[a] & sets[b]) / len(sets[a] | sets[b])
            if jaccard >= same_text:
                for x, y in ((a, b), (b, a)):
                    if jaccard > out.get(x, ("", -1.0))[1]:
                        out[x] = (y, jaccard)
    return out
