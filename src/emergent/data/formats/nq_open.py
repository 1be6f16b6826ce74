"""NQ-Open (google-research-datasets/natural-questions): real search questions with short answers.

question -> user (capitalised, with a question mark); the first answer alias -> a short sentence.

`options: {phrasing: varied | bare}` (default varied):
- varied: one of four phrasings, chosen by a hash of the question, so the model does not learn one stock
  opener; half of them announce it ("The answer is X.", "The short answer is X.").
- bare: the answer alone ("X."). For builds where "the answer is" must not be taught as the way to meet
  a question: docs/proof.md ("Attempts") traces moral questions answered "The answer is no." to it.
"""

from __future__ import annotations

from typing import Any

from emergent.data.formats._common import choice_option, field, pair, pick
from emergent.errors import Reject

CATEGORY = "factual"
LICENSE = "CC-BY-SA-3.0"
OPTIONS = {"phrasing": "varied (four phrasings, half 'The answer is X.', default) | bare (the answer alone)"}
PHRASINGS = {
    # Each reads as a sentence whatever the answer is (a name, a date, a number, a noun phrase).
    "varied": ("The answer is {a}.", "{A}.", "The short answer is {a}.", "In short: {a}."),
    "bare": ("{A}.",),
}


def phrasing(source: Any) -> str:
    """The source's `phrasing` option; ConfigError when it is not one of PHRASINGS."""
    return choice_option(source, "phrasing", PHRASINGS, "varied")


def check_options(source: Any) -> None:
    phrasing(source)


def convert(row: dict, source: object) -> dict:
    question = " ".join(field(row, "question").split())
    answers = row.get("answer")
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not answers or not isinstance(answers[0], str) or not answers[0].strip():
        raise Reject("missing_field", "no 'answer' list with a first alias")
    answer = " ".join(answers[0].replace("\xa0", " ").split()).rstrip(".")
    question = question[0].upper() + question[1:]
    if not question.endswith("?"):
        question += "?"
    template = pick(PHRASINGS[phrasing(source)], question)
    return pair(question, template.format(a=answer, A=answer[0].upper() + answer[1:]))
