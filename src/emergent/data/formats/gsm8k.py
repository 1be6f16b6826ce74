"""GSM8K (openai/grade-school-math): grade-school word problems with step-by-step solutions.

The reasoning is kept; calculator annotations ("<<48/2=24>>") are tool traces, not prose, and go;
the final "#### 72" becomes a closing line that states the number, so every answer ends with it.

`options: {closing: fixed | varied | plain}` (default fixed):
- fixed: every reply ends "The answer is 72.", the common GSM8K fine-tuning form.
- varied: the closing is one of several phrasings, chosen by a stable hash of the question, and some
  replies stop at the reasoning when its last number already is the answer. 7,473 replies that end in
  the same words may teach that sentence as a reflex beyond arithmetic; docs/proof.md ("Attempts")
  measures whether they do.
- plain: no sentence that announces "the answer": the reasoning alone when its last number is the answer
  (95 % of the training split), otherwise "That gives N.". For builds where a question-answering
  template must not be learnt at all (docs/proof.md, "Attempts").
"""

from __future__ import annotations

import re
from typing import Any

from emergent.data.formats._common import choice_option, field, pair, pick
from emergent.errors import Reject

CATEGORY = "analytical"
LICENSE = "MIT"
OPTIONS = {
    "closing": "fixed ('The answer is N.', default) | varied (five phrasings, or the reasoning alone)"
    " | plain (the reasoning alone, or 'That gives N.' when it ends on another number)",
}
CLOSING_STYLES = ("fixed", "varied", "plain")
# "" = no closing line: used only when the reasoning's last number is the answer.
VARIED_CLOSINGS = (
    "The answer is {n}.",
    "So the answer is {n}.",
    "Final answer: {n}",
    "",
    "That gives {n}.",
    "**Answer:** {n}",
)

_CALCULATOR = re.compile(r"<<[^<>]*>>")
_FINAL = re.compile(r"\n?\s*####\s*(.+?)\s*$", re.S)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def closing_style(source: Any) -> str:
    """The source's `closing` option; ConfigError when it is not one of CLOSING_STYLES."""
    return choice_option(source, "closing", CLOSING_STYLES, "fixed")


def _last_number(text: str) -> str | None:
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "").rstrip(".") if numbers else None


def solution_text(answer: str, *, closing: str = "fixed", key: str = "") -> str:
    """Reasoning without calculator annotations, closed by a line that states the final number.

    `closing="varied"` picks the line from VARIED_CLOSINGS by a hash of `key` (the question);
    `closing="plain"` states it only when the reasoning does not already end on it.
    """
    final = _FINAL.search(answer)
    if final is None:
        raise Reject("missing_final_answer", 'the answer has no "#### <number>" line')
    number = final.group(1).strip()
    reasoning = _CALCULATOR.sub("", answer[: final.start()]).strip()
    if "<<" in reasoning or ">>" in reasoning:
        raise Reject("malformed_annotation", "an unclosed <<...>> calculator annotation")
    if closing == "varied":
        line = pick(VARIED_CLOSINGS, key)
    else:
        line = "The answer is {n}." if closing == "fixed" else ""
    if not line and (not reasoning or _last_number(reasoning) != number.replace(",", "")):
        # The reasoning alone would not end on the answer.
        line = "That gives {n}." if closing == "plain" else "So the answer is {n}."
    if not line:
        return reasoning
    line = line.format(n=number)
    return f"{reasoning}\n{line}" if reasoning else line


def check_options(source: Any) -> None:
    closing_style(source)


def convert(row: dict, source: object) -> dict:
    question = field(row, "question")
    return pair(question, solution_text(field(row, "answer"), closing=closing_style(source), key=question))
