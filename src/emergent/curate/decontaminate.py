"""Decontamination: drop training records that contain an evaluation prompt (eval_sets.py says which).

A record matches by overlap.py's rule: it shares a word n-gram with a prompt (default 13, GPT-3's
rule), or a user turn of it equals a short prompt after normalisation. Records of a source split into
parts (`evaluation_parts`) whose first user turn falls in the evaluation part are held out whatever
they contain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from emergent.curate.eval_sets import first_user_turn, in_evaluation_part
from emergent.curate.steps import Dropped, Filter, Verdict
from emergent.overlap import EvalSet, PromptIndex
from emergent.schema import Conversation


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
