"""NQ-Open (google-research-datasets/natural-questions): real search questions with short answers.

question -> user (capitalised, with a question mark); the first answer alias -> a short sentence.
"""

from __future__ import annotations

from emergent.data.formats._common import field, pair, pick
from emergent.errors import Reject

CATEGORY = "factual"
LICENSE = "CC-BY-SA-3.0"

# Several phrasings so the model does not learn one stock opener; chosen by a hash, so reruns are identical.
# Each reads as a sentence whatever the answer is (a name, a date, a number, a noun phrase).
_SENTENCES = ("The answer is {a}.", "{A}.", "The short answer is {a}.", "In short: {a}.")


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
    template = pick(_SENTENCES, question)
    return pair(question, template.format(a=answer, A=answer[0].upper() + answer[1:]))
