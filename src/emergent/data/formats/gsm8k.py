"""GSM8K (openai/grade-school-math): grade-school word problems with step-by-step solutions.

The reasoning is kept; calculator annotations ("<<48/2=24>>") are tool traces, not prose, and go;
the final "#### 72" becomes "The answer is 72." so every answer ends with its number.
"""

from __future__ import annotations

import re

from emergent.data.formats._common import field, pair
from emergent.errors import Reject

CATEGORY = "analytical"
LICENSE = "MIT"

_CALCULATOR = re.compile(r"<<[^<>]*>>")
_FINAL = re.compile(r"\n?\s*####\s*(.+?)\s*$", re.S)


def solution_text(answer: str) -> str:
    """Reasoning without calculator annotations, closed by "The answer is N."."""
    final = _FINAL.search(answer)
    if final is None:
        raise Reject("missing_final_answer", 'the answer has no "#### <number>" line')
    number = final.group(1).strip()
    reasoning = _CALCULATOR.sub("", answer[: final.start()]).strip()
    if "<<" in reasoning or ">>" in reasoning:
        raise Reject("malformed_annotation", "an unclosed <<...>> calculator annotation")
    closing = f"The answer is {number}."
    return f"{reasoning}\n{closing}" if reasoning else closing


def convert(row: dict, source: object) -> dict:
    return pair(field(row, "question"), solution_text(field(row, "answer")))
