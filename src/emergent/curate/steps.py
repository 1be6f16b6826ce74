"""Pipeline steps: small objects with `run(stream) -> stream` over conversations.

A `Filter` answers `keep(conv)` with True or (False, "reason"); the base class counts what it drops
and hands the record to a `Dropped` log, so nothing is lost silently. Batched steps (a classifier, the
profanity model) override `keep_batch`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from emergent.schema import Conversation

Verdict = bool | tuple[bool, str]


class Dropped:
    """Dropped records per step with their reason; `counts[(step, source, reason)]` for the manifest."""

    def __init__(self, keep_records: bool = True) -> None:
        self.keep_records = keep_records
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.counts: Counter = Counter()
        # Things noticed but not dropped (e.g. red-team prompts kept), reported in the manifest.
        self.notes: Counter = Counter()
        # Finer counts a step keeps about its drops, `breakdown[(step, key)]` (decontamination: per evaluation set).
        self.breakdown: Counter = Counter()

    def add(self, step: str, conv: Conversation, reason: str, **extra: Any) -> None:
        self.counts[(step, conv["_source"], reason)] += 1
        if self.keep_records:
            entry = {
                "reason": reason,
                **extra,
                "_id": conv["_id"],
                "_source": conv["_source"],
                "_origin": conv["_origin"],
            }
            entry["record"] = {
                "messages": conv["messages"],
                "tools": conv.get("tools"),
                "_category": conv.get("_category"),
            }
            self.entries.setdefault(step, []).append(entry)

    def merge(self, other: Dropped) -> None:
        self.counts.update(other.counts)
        self.notes.update(other.notes)
        self.breakdown.update(other.breakdown)
        for step, items in other.entries.items():
            self.entries.setdefault(step, []).extend(items)

    def take_entries(self) -> dict[str, list[dict[str, Any]]]:
        entries, self.entries = self.entries, {}
        return entries


class Step:
    """One stage over a stream of conversations."""

    name: str = "step"

    def run(self, stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
        yield from stream


def batched(stream: Iterable[Conversation], size: int) -> Iterator[list[Conversation]]:
    it = iter(stream)
    while batch := list(islice(it, size)):
        yield batch


class Filter(Step):
    """Keeps a record when `keep` says True; otherwise logs it under this step's name with the reason."""

    batch_size: int = 1024

    def keep(self, conv: Conversation) -> Verdict:
        return True

    def keep_batch(self, convs: list[Conversation]) -> list[Verdict]:
        return [self.keep(c) for c in convs]

    def run(self, stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
        for batch in batched(stream, self.batch_size):
            for conv, verdict in zip(batch, self.keep_batch(batch), strict=True):
                if verdict is True:
                    yield conv
                else:
                    dropped.add(self.name, conv, verdict[1])


def run_steps(steps: list[Step], stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
    """Chain the steps lazily, datatrove-style."""
    for step in steps:
        stream = step.run(stream, dropped)
    yield from stream
