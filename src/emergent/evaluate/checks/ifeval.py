"""Instruction-following items from IFEval: each verifiable constraint decided by code, no judge.

A port of the checkers in google-research's instruction_following_eval/instructions.py for the
instruction types the shipped items use (strict variant). No maintained implementation installs
offline here: the PyPI fork is absent and lm-eval's copy needs nltk's punkt data, downloaded at run
time. Differences, kept small on purpose: words are `\\w+` runs (nltk's RegexpTokenizer, the same),
sentences are split on end punctuation instead of punkt, and the English-only case checks do not
run langdetect. The response-language checks are not ported, and items that need them are not shipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from emergent.evaluate.checks.text import Result


def _compare(count: int, relation: str, n: int) -> bool:
    if relation == "less than":
        return count < n
    if relation == "at least":
        return count >= n
    raise ValueError(f"unknown relation {relation!r}")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if re.search(r"\w", s)]


def _highlights(v: str, num_highlights: int) -> bool:
    found = [h for h in re.findall(r"\*[^\n\*]*\*", v) if h.strip("*").strip()]
    found += [h for h in re.findall(r"\*\*[^\n\*]*\*\*", v) if h.removeprefix("**").removesuffix("**").strip()]
    return len(found) >= num_highlights


def _bullets(v: str, num_bullets: int) -> bool:
    return len(re.findall(r"^\s*\*[^\*].*$", v, re.M)) + len(re.findall(r"^\s*-.*$", v, re.M)) == num_bullets


def _json(v: str) -> bool:
    v = v.strip().removeprefix("```json").removeprefix("```Json").removeprefix("```JSON").removeprefix("```")
    try:
        json.loads(v.removesuffix("```").strip())
    except ValueError:
        return False
    return True


def _sections(v: str, section_spliter: str, num_sections: int) -> bool:
    return len(re.split(r"\s?" + re.escape(section_spliter) + r"\s?\d+\s?", v)) - 1 >= num_sections


def _postscript(v: str, postscript_marker: str) -> bool:
    low = v.lower()
    if postscript_marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif postscript_marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(postscript_marker.lower()) + r".*$"
    return bool(re.findall(pattern, low, re.M))


def _paragraphs(v: str, num_paragraphs: int) -> bool:
    parts = re.split(r"\s?\*\*\*\s?", v)
    n = len(parts)
    for i, p in enumerate(parts):
        if not p.strip():
            if i in (0, len(parts) - 1):
                n -= 1
            else:
                return False
    return n == num_paragraphs


def _nth_paragraph(v: str, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    parts = re.split(r"\n\n", v)
    n = sum(1 for p in parts if p.strip())
    if nth_paragraph > n or nth_paragraph > len(parts):
        return False
    p = parts[nth_paragraph - 1].strip()
    if not p:
        return False
    word = p.split()[0].strip().lstrip("'").lstrip('"')
    first = ""
    for ch in word:
        if ch in {".", ",", "?", "!", "'", '"'}:
            break
        first += ch.lower()
    return n == num_paragraphs and first == first_word.lower()


def _two_responses(v: str) -> bool:
    parts = v.split("******")
    valid = []
    for i, p in enumerate(parts):
        if not p.strip():
            if i not in (0, len(parts) - 1):
                return False
        else:
            valid.append(p)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


CHECKERS: dict[str, Callable[..., bool]] = {
    "punctuation:no_comma": lambda v: "," not in v,
    "detectable_format:number_highlighted_sections": _highlights,
    "length_constraints:number_words": lambda v, relation, num_words: _compare(
        len(re.findall(r"\w+", v)), relation, num_words
    ),
    "length_constraints:number_sentences": lambda v, relation, num_sentences: _compare(
        len(_sentences(v)), relation, num_sentences
    ),
    "length_constraints:number_paragraphs": _paragraphs,
    "length_constraints:nth_paragraph_first_word": _nth_paragraph,
    "detectable_format:number_bullet_lists": _bullets,
    "keywords:existence": lambda v, keywords: all(re.search(re.escape(k), v, re.I) for k in keywords),
    "keywords:forbidden_words": lambda v, forbidden_words: (
        not any(re.search(r"\b" + re.escape(w) + r"\b", v, re.I) for w in forbidden_words)
    ),
    "keywords:frequency": lambda v, keyword, frequency, relation: _compare(
        len(re.findall(re.escape(keyword), v, re.I)), relation, frequency
    ),
    "keywords:letter_frequency": lambda v, letter, let_frequency, let_relation: _compare(
        v.lower().count(letter.lower()), let_relation, let_frequency
    ),
    "change_case:english_lowercase": lambda v: bool(v.strip()) and v == v.lower(),
    "change_case:english_capital": lambda v: bool(v.strip()) and v == v.upper(),
    "change_case:capital_word_frequency": lambda v, capital_frequency, capital_relation: _compare(
        sum(1 for w in re.findall(r"\w+", v) if w.isupper()), capital_relation, capital_frequency
    ),
    "detectable_format:title": lambda v: any(t.strip("<>").strip() for t in re.findall(r"<<[^\n]+>>", v)),
    "detectable_format:json_format": _json,
    "detectable_format:multiple_sections": _sections,
    "detectable_format:constrained_response": lambda v: any(
        o in v.strip() for o in ("My answer is yes.", "My answer is no.", "My answer is maybe.")
    ),
    "detectable_content:postscript": _postscript,
    "detectable_content:number_placeholders": lambda v, num_placeholders: (
        len(re.findall(r"\[.*?\]", v)) >= num_placeholders
    ),
    "startend:end_checker": lambda v, end_phrase: v.strip().strip('"').lower().endswith(end_phrase.strip().lower()),
    "startend:quotation": lambda v: len(v.strip()) > 1 and v.strip()[0] == '"' and v.strip()[-1] == '"',
    "combination:repeat_prompt": lambda v, prompt_to_repeat: (
        v.strip().lower().startswith(prompt_to_repeat.strip().lower())
    ),
    "combination:two_responses": _two_responses,
}


def supported(instruction_ids: list[str]) -> bool:
    return all(i in CHECKERS for i in instruction_ids)


def follows(instruction_id: str, kwargs: dict[str, Any], reply: str) -> bool:
    args = {k: v for k, v in (kwargs or {}).items() if v is not None}
    return bool(reply.strip()) and CHECKERS[instruction_id](reply, **args)


def ifeval(spec: dict[str, Any], reply: str) -> Result:
    """spec: {instruction_id_list, kwargs}; passes when every instruction holds (IFEval's prompt-level strict)."""
    ids, kwargs = spec["instruction_id_list"], spec["kwargs"]
    held = [follows(i, k, reply) for i, k in zip(ids, kwargs, strict=True)]
    failed = [i for i, ok in zip(ids, held, strict=True) if not ok]
    return Result(sum(held) / len(held), all(held), "all instructions followed" if not failed else f"failed {failed}")
