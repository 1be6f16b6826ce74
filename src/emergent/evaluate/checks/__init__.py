"""Verifiable checks of a reply's content, one kind per context (content, not register).

An item carries a list of check specs ({"type": ..., ...}); `score_reply` runs them all. The item
passes when every check passes; its graded score is the lowest check score (a reply is as good as its
weakest part). Types: short_answer, final_number, unit_tests, tool_call, ifeval, eq_bench, mentions,
original, on_topic, both_sides, engages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emergent.evaluate.checks.text import Result

TEXT_CHECKS = {"short_answer", "final_number", "mentions", "original", "on_topic", "both_sides", "engages"}
TYPES = TEXT_CHECKS | {"unit_tests", "tool_call", "ifeval", "eq_bench"}
# Checks the request's own words can meet (the subject named, on topic, both sides): the shipped items that
# carry one also carry `engages`, so a dodge that names the subject does not pass (session 22).
REQUEST_WORD_CHECKS = {"mentions", "on_topic", "both_sides"}


@dataclass(frozen=True)
class Verdict:
    passed: bool
    score: float
    checks: list[dict[str, Any]]  # [{type, passed, score, detail}]


def run_check(spec: dict[str, Any], reply: str, prompt: str) -> Result:
    kind = spec.get("type")
    if kind in TEXT_CHECKS:
        from emergent.evaluate.checks.text import check

        return check(spec, reply, prompt)
    if kind == "unit_tests":
        from emergent.evaluate.checks.code import unit_tests

        return unit_tests(spec, reply)
    if kind == "tool_call":
        from emergent.evaluate.checks.tool_call import tool_call

        return tool_call(spec, reply)
    if kind == "ifeval":
        from emergent.evaluate.checks.ifeval import ifeval

        return ifeval(spec, reply)
    if kind == "eq_bench":
        from emergent.evaluate.checks.eq_bench import eq_bench

        return eq_bench(spec, reply)
    raise ValueError(f"unknown check type {kind!r} — one of {sorted(TYPES)}")


def score_reply(checks: list[dict[str, Any]], reply: str, prompt: str) -> Verdict:
    """Run every check of an item on one reply."""
    results = [(c["type"], run_check(c, reply, prompt)) for c in checks]
    return Verdict(
        passed=all(r.passed for _, r in results),
        score=min((r.score for _, r in results), default=0.0),
        checks=[{"type": t, "passed": r.passed, "score": round(r.score, 4), "detail": r.detail} for t, r in results],
    )
