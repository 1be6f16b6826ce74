"""Contamination check: n-gram (default 13) overlap between the suite's user turns and the training mixture.

A suite prompt that shares any 13-word sequence with a training conversation may have been learned
verbatim; such prompts are reported by id so a reader can discount them (GPT-3's decontamination rule).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from emergent.evaluate.suite import Item

_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def contamination(items: list[Item], data_dir: Path | None, n: int = 13) -> dict[str, Any]:
    """{"checked": bool, "ngram": n, "items": k, "contaminated": [ids], "rate"}; streams the data once."""
    if data_dir is None or not Path(data_dir).exists():
        return {"checked": False, "ngram": n, "reason": f"no training data at {data_dir}"}
    from emergent.data.store import read_conversations
    from emergent.schema import conversation_text

    wanted: dict[tuple[str, ...], set[str]] = {}
    for it in items:
        for turn in it.turns:
            for g in ngrams(turn, n):
                wanted.setdefault(g, set()).add(it.id)
    hit: set[str] = set()
    records = 0
    for conv in read_conversations(Path(data_dir)):
        records += 1
        if wanted:
            for g in ngrams(conversation_text(conv), n) & wanted.keys():
                hit |= wanted[g]
    checkable = {i for ids in wanted.values() for i in ids}
    return {
        "checked": True,
        "ngram": n,
        "data": str(data_dir),
        "records": records,
        "items": len(items),
        "items_long_enough": len(checkable),  # prompts shorter than n words cannot match
        "contaminated": sorted(hit),
        "rate": round(len(hit) / max(len(items), 1), 4),
    }
