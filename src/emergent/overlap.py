"""Which texts contain an evaluation prompt: the rule decontamination drops training records by
(curate/decontaminate.py) and the contamination check reports suite items by (evaluate/contamination.py).

A prompt of at least MIN_PROMPT_WORDS words matches when a text shares one of its word n-grams
(default 13, GPT-3's rule; a prompt shorter than n matches as a whole phrase). A shorter prompt is too
generic for a phrase match ("Who painted the Mona Lisa?" sits inside many texts): it matches a user
turn equal to it after normalisation (case, spacing, punctuation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from emergent.schema import Conversation
from emergent.text import dedup_text, match_key, normalise, words


@dataclass
class EvalSet:
    """Prompts of one evaluation set, and where they came from (or why the set was skipped)."""

    name: str
    origin: str
    prompts: list[str]
    skipped: str | None = None  # why nothing was read: the manifest says so


# Fewer words than this: matched as a whole user turn, not as a phrase inside a text.
MIN_PROMPT_WORDS = 8


class PromptIndex:
    """The evaluation prompts, indexed for matching against conversations.

    Phrase lookup is indexed by each n-gram's first two words; most records share no start with any
    prompt. Every gram and short prompt remembers the sets it came from, in order.
    """

    def __init__(self, sets: list[EvalSet], n: int = 13) -> None:
        self.n = n
        self.index: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        self.gram_sets: dict[tuple[str, ...], list[int]] = {}
        self.short: dict[str, list[int]] = {}
        self.set_names = [s.name for s in sets]
        for k, s in enumerate(sets):
            for prompt in s.prompts:
                toks = words(normalise(prompt))  # the same tokens as the records' side
                if len(toks) < min(n, MIN_PROMPT_WORDS):
                    if key := match_key(prompt):
                        _add(self.short, key, k)
                    continue
                size = min(n, len(toks))
                for i in range(len(toks) - size + 1):
                    _add(self.gram_sets, tuple(toks[i : i + size]), k)
        for g in sorted(self.gram_sets):
            self.index.setdefault((g[0], g[1]), []).append(g)
        self.starts = frozenset(self.index)

    def __len__(self) -> int:
        return len(self.gram_sets) + len(self.short)

    def phrase_hits(self, conv: Conversation) -> Iterator[tuple[str, ...]]:
        """Each n-gram (or whole short phrase) of a prompt found in the conversation."""
        toks = words(dedup_text(conv))
        # Set intersection runs in C; the positional check only runs for records sharing a start.
        hits = self.starts.intersection(zip(toks, toks[1:], strict=False))
        if not hits:
            return
        for i in range(len(toks) - 1):
            key = (toks[i], toks[i + 1])
            if key in hits:
                for g in self.index[key]:
                    if tuple(toks[i : i + len(g)]) == g:
                        yield g

    def turn_hits(self, conv: Conversation) -> Iterator[str]:
        """Each user turn equal to a short prompt after normalisation."""
        if self.short:
            for m in conv["messages"]:
                if m["role"] == "user" and (key := match_key(m.get("content") or "")) in self.short:
                    yield key

    def first_match(self, conv: Conversation) -> tuple[str, int] | None:
        """(reason, set index) of the first match, or None."""
        for g in self.phrase_hits(conv):
            return "eval_overlap", self.gram_sets[g][0]
        for key in self.turn_hits(conv):
            return "eval_prompt", self.short[key][0]
        return None

    def all_matches(self, conv: Conversation) -> set[int]:
        """Every set with a prompt the conversation contains."""
        found = {k for g in self.phrase_hits(conv) for k in self.gram_sets[g]}
        return found | {k for key in self.turn_hits(conv) for k in self.short[key]}


def _add(index: dict, key: object, k: int) -> None:
    sets = index.setdefault(key, [])
    if not sets or sets[-1] != k:
        sets.append(k)
