"""Contamination check: which suite items the training mixture contains.

The rule is the build's decontamination (overlap.py, shared with curate/decontaminate.py), applied the other way round: a
user turn of at least 8 words is contained when a training conversation shares one of its word
n-grams (default 13, GPT-3's rule; a whole phrase when shorter than n); a shorter turn when a training
user turn equals it after normalisation (case, spacing, punctuation). Contaminated items are reported
by id so a reader can discount them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emergent.evaluate.suite import Item


def contamination(items: list[Item], data_dir: Path | None, n: int = 13) -> dict[str, Any]:
    """{"checked": bool, "ngram": n, "items": k, "contaminated": [ids], "rate"}; streams the data once."""
    if data_dir is None or not Path(data_dir).exists():
        return {"checked": False, "ngram": n, "reason": f"no training data at {data_dir}"}
    from emergent.data.store import read_conversations
    from emergent.overlap import MIN_PROMPT_WORDS, EvalSet, PromptIndex

    # One set per item: a match names the items it came from.
    index = PromptIndex([EvalSet(it.id, "suite", list(it.turns)) for it in items], n)
    hit: set[int] = set()
    records = 0
    for conv in read_conversations(Path(data_dir)):
        records += 1
        if len(index):
            hit |= index.all_matches(conv)
    return {
        "checked": True,
        "ngram": n,
        "exact_below_words": MIN_PROMPT_WORDS,
        "data": str(data_dir),
        "records": records,
        "items": len(items),
        "contaminated": sorted(items[k].id for k in hit),
        "rate": round(len(hit) / max(len(items), 1), 4),
    }
