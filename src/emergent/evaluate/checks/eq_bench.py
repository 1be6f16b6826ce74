"""Empathetic items from EQ-Bench v2: parse the emotion intensities in a reply, score them fullscale.

The scoring is EQ-Bench's `calculate_score_fullscale` (lib/scoring.py): an answer counts only when it
rates exactly the four reference emotions; per-emotion absolute differences up to 5 shrink on a sigmoid,
larger ones count in full, and the question scores 10 - 0.7477 * their sum (0 = random, 10 = the
reference). An unparseable answer scores 0 here and is counted as unparseable.
"""

from __future__ import annotations

import math
import re
from typing import Any

from emergent.evaluate.checks.text import Result

_LINE = re.compile(r"^\s*[*\-]*\s*([A-Za-z][A-Za-z \-']*?)\s*\**\s*:\s*\**\s*(\d+(?:\.\d+)?)", re.M)


def parse_scores(reply: str, emotions: list[str]) -> dict[str, float] | None:
    """{emotion: score} from the revised scores (else the first pass, else anywhere); None unless all four."""
    lower = reply.lower()
    start = max(lower.rfind("revised scores"), 0) if "revised scores" in lower else max(lower.find("first pass"), 0)
    wanted = {e.lower(): e for e in emotions}
    found: dict[str, float] = {}
    for name, value in _LINE.findall(reply[start:]):
        key = name.strip().lower()
        if key in wanted and wanted[key] not in found:
            found[wanted[key]] = float(value)
    return found if len(found) == len(emotions) else None


def fullscale(reference: dict[str, float], answer: dict[str, float]) -> float:
    tally = 0.0
    for emotion, ref in reference.items():
        d = abs(answer[emotion] - ref)
        if d == 0:
            scaled = 0.0
        elif d <= 5:
            scaled = 6.5 / (1 + math.e ** (-1.2 * (d - 4)))
        else:
            scaled = d
        tally += scaled
    return 10 - 0.7477 * tally


def eq_bench(spec: dict[str, Any], reply: str) -> Result:
    """spec: {reference: {emotion: 0-10}, pass_at: question score needed to pass (default 7.5)}."""
    reference = {k: float(v) for k, v in spec["reference"].items()}
    answer = parse_scores(reply, list(reference))
    if answer is None:
        return Result(0.0, False, "unparseable: the four emotions with scores were not found")
    score = fullscale(reference, answer)
    passed = score >= spec.get("pass_at", 7.5)
    return Result(max(0.0, min(score / 10, 1.0)), passed, f"EQ-Bench question score {score:.2f}")
