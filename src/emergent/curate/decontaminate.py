"""Decontamination: drop training records that contain an evaluation prompt (eval_sets.py says which).

A prompt of at least MIN_PROMPT_WORDS words matches when a record shares one of its word n-grams
(default 13, GPT-3's rule; a prompt shorter than n matches as a whole phrase). A shorter prompt is
too generic for a phrase match ("Who painted the Mona Lisa?" sits inside many texts) but is still an
evaluation prompt: it matches a record with a user turn equal to it after normalisation (case,
spacing, punctuation). Records of a source split into parts (`evaluation_parts`) whose first user
turn falls in the evaluation part are held out whatever they contain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from emergent.curate.eval_sets import EvalSet, first_user_turn, in_evaluation_part
from emergent.curate.steps import Dropped, Filter, Verdict
from emergent.curate.text import dedup_text, match_key, normalise, words
from emergent.schema import Conversation

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


def held_out_key(source: str) -> str:
    """How `Dropped.breakdown` names the records held out as a source's evaluation part."""
    return f"held out: {source}"


class Decontaminate(Filter):
    """Drops records that contain an evaluation prompt (`eval_overlap`: a shared n-gram; `eval_prompt`:
    a user turn equal to a short prompt) and records in the evaluation part of a split source
    (`evaluation_part`). Per set, the records it caught are counted in `Dropped.breakdown`."""

    name = "decontaminate"

    def __init__(self, sets: list[EvalSet], n: int = 13, evaluation_parts: Iterable[str] = ()) -> None:
        self.prompts = PromptIndex(sets, n)
        self.parts = frozenset(evaluation_parts)

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def active(self) -> bool:
        return bool(len(self.prompts) or self.parts)

    def match(self, conv: Conversation) -> tuple[str, str] | None:
        """(reason, what it matched) for a record to drop, else None."""
        if conv["_source"] in self.parts and in_evaluation_part(first_user_turn(conv)):
            return "evaluation_part", held_out_key(conv["_source"])
        found = self.prompts.first_match(conv)
        return None if found is None else (found[0], self.prompts.set_names[found[1]])

    def keep(self, conv: Conversation) -> Verdict:
        found = self.match(conv)
        return True if found is None else (False, found[0])

    def run(self, stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
        for conv in stream:
            found = self.match(conv)
            if found is None:
                yield conv
            else:
                dropped.add(self.name, conv, found[0], eval_set=found[1])
                dropped.breakdown[(self.name, found[1])] += 1
