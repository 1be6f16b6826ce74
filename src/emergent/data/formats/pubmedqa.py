"""PubMedQA (PQA-L): a yes/no research question answered from one study's abstract.

The asker's turn holds the question and the abstract (CONTEXTS, each section under its label); the
reply opens with the expert decision (final_decision: yes / no / maybe) in plain words, then gives
the abstract's own conclusion (LONG_ANSWER). The abstract goes in the user turn because LONG_ANSWER
is written from the study ("Our results showed that ..."): without the abstract the reply would state
findings the asker never gave, teaching the model to cite studies from nowhere. A conclusion in the
authors' first person ("we", "our") is quoted and attributed, so the assistant never claims to have
run the study. MESHES, YEAR and the reasoning_*_pred columns (model predictions) are not text.
"""

from __future__ import annotations

import re

from emergent.data.formats._common import assistant, field, user
from emergent.errors import Reject

CATEGORY = "specialized"
LICENSE = "MIT"

DECISIONS = {
    "yes": "Yes, according to this study.",
    "no": "No, according to this study.",
    "maybe": "This study does not give a clear yes or no.",
}
# Case-sensitive "us": "US" (the country) is not the authors speaking.
FIRST_PERSON = re.compile(r"\b(?:[Ww]e|[Oo]urs?|us)\b")


def abstract(contexts: list, labels: list) -> str:
    """The abstract's sections, each under its label in sentence case ("MATERIALS AND METHODS" -> "Materials and methods")."""
    sections = []
    for i, text in enumerate(contexts):
        if not isinstance(text, str) or not text.strip():
            continue
        label = labels[i] if i < len(labels) and isinstance(labels[i], str) and labels[i].strip() else ""
        label = label.strip().capitalize()
        sections.append(f"{label}: {text.strip()}" if label else text.strip())
    return "\n\n".join(sections)


def reply(decision: str, conclusion: str) -> str:
    """The decision in words, then the study's conclusion (quoted when the authors speak in the first person)."""
    conclusion = conclusion.strip()
    if FIRST_PERSON.search(conclusion):
        conclusion = f'The authors conclude: "{conclusion}"'
    return f"{DECISIONS[decision]}\n\n{conclusion}"


def convert(row: dict, source: object) -> dict:
    question = field(row, "QUESTION").strip()
    conclusion = field(row, "LONG_ANSWER")
    decision = field(row, "final_decision").strip().lower()
    if decision not in DECISIONS:
        raise Reject("unknown_decision", f"final_decision {decision!r}, expected yes, no or maybe")
    contexts, labels = row.get("CONTEXTS"), row.get("LABELS")
    if not isinstance(contexts, list):
        raise Reject("missing_field", "no 'CONTEXTS' list of abstract sections")
    text = abstract(contexts, labels if isinstance(labels, list) else [])
    if not text:
        raise Reject("missing_field", "'CONTEXTS' holds no text")
    prompt = f"{question}\n\nStudy abstract:\n\n{text}"
    return {"messages": [user(prompt), assistant(reply(decision, conclusion))], "tools": None}
