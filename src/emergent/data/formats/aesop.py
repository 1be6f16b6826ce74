"""Aesop's fables (emorynlp/data-collection): a request for a fable teaching a lesson -> the fable.

title + lesson -> the user asks for a fable that teaches the lesson; the fable -> the assistant,
ending with its moral. Many fables stop at "...said:" where the source printed the moral as the
closing line, so there the moral completes the sentence; elsewhere it is added as "Moral: ...".
A fable without a lesson is asked for by its title. The three files overlap on purpose (the same
fable in different translations): the dedup stage handles that, not this reader.
"""

from __future__ import annotations

from emergent.data.formats._common import field, pair
from emergent.errors import Reject

CATEGORY = "creative"
LICENSE = "Public-Domain (see aesop/COPYRIGHT.md)"


def with_moral(fable: str, lesson: str) -> str:
    """The fable ending with its moral, without repeating a moral the text already states."""
    fable = fable.strip()
    if not lesson:
        return fable
    moral = lesson.strip()
    if moral[-1] not in ".!?\"'":
        moral += "."
    if fable.endswith(":"):
        return f'{fable} "{moral}"'
    if moral.rstrip(".!?").lower() in fable[-len(moral) - 40 :].lower():
        return fable
    return f"{fable}\n\nMoral: {moral}"


def convert(row: dict, source: object) -> dict:
    title = field(row, "title").strip()
    fable = field(row, "fable").strip()
    lesson = field(row, "lesson", required=False).strip()
    if not lesson and fable.endswith(":"):
        raise Reject("missing_field", "the fable ends with ':' awaiting its moral, and 'lesson' is empty")
    if lesson:
        prompt = f'Write a fable titled "{title}" that teaches this lesson: {lesson.rstrip(".")}.'
    else:
        prompt = f'Tell me Aesop\'s fable "{title}".'
    return pair(prompt, with_moral(fable, lesson))
