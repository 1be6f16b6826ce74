"""Hand-made records for the curation tests."""

from __future__ import annotations

from emergent.schema import make_conversation


def conv(user: str, assistant: str, source: str = "s", category: str | None = "technical", origin: str = "t:0") -> dict:
    return make_conversation(
        [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        source=source,
        origin=origin,
        category=category,
    )


LOREM = (
    "The committee reviewed the quarterly budget and agreed that the travel allowance should be reduced "
    "while the training programme keeps its funding because new staff need mentoring during their first year"
)
