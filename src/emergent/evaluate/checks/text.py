"""Checks on the text of a reply: short answers, final numbers, named elements, engagement, no echo.

Each check returns a `Result`: a score in [0, 1], whether it passed, and a short reason a reader can
verify by looking at the reply.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from emergent.text import dodge


@dataclass(frozen=True)
class Result:
    score: float
    passed: bool
    detail: str = ""


def normalise(text: str) -> str:
    """SQuAD / NQ-open answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def short_answer(reply: str, aliases: list[str], max_words: int = 80) -> Result:
    """Pass when a gold alias appears (normalised, whole words) in a reply of at most `max_words` words.

    The length cap stops a reply from passing by listing every candidate answer.
    """
    norm = f" {normalise(reply)} "
    n = len(norm.split())
    if n == 0:
        return Result(0.0, False, "empty reply")
    if n > max_words:
        return Result(0.0, False, f"{n} words > {max_words}: not a short answer")
    for a in aliases:
        if normalise(a) and f" {normalise(a)} " in norm:
            return Result(1.0, True, f"contains {a!r}")
    return Result(0.0, False, "no gold alias in the reply")


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def as_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


def final_number(reply: str, answer: str) -> Result:
    """GSM8K: the last number in the reply equals the gold number (thousands separators removed)."""
    found = _NUMBER.findall(reply)
    gold = as_number(answer)
    if not found or gold is None:
        return Result(0.0, False, "no number in the reply")
    last = as_number(found[-1])
    ok = last is not None and abs(last - gold) < 1e-6
    return Result(float(ok), ok, f"last number {found[-1]} vs {answer}")


def _mentions(tokens: list[str], alias: str) -> bool:
    """A one-word alias matches a word that starts with it (guitar → guitars); a phrase matches in order."""
    parts = words(alias)
    if not parts:
        return False
    if len(parts) == 1:
        w = parts[0]
        return any(t == w or (len(w) >= 4 and t.startswith(w)) for t in tokens)
    k = len(parts)
    return any(tokens[i : i + k] == parts for i in range(len(tokens) - k + 1))


def mentions(reply: str, groups: list[list[str]], need: int | None = None) -> Result:
    """Each group is one thing the reply must name (any of its aliases); `need` groups (default all) must appear."""
    tokens = words(reply)
    hit = [g for g in groups if any(_mentions(tokens, a) for a in g)]
    need = len(groups) if need is None else need
    ok = len(hit) >= need
    score = min(len(hit) / max(need, 1), 1.0)
    missing = [g[0] for g in groups if g not in hit]
    return Result(score, ok, f"named {len(hit)} of {len(groups)}" + (f"; missing {missing}" if missing else ""))


def original(reply: str, prompt: str, min_new_words: int) -> Result:
    """At least `min_new_words` words that are not in the prompt: an echo or an empty reply fails."""
    seen = set(words(prompt))
    new = [w for w in words(reply) if w not in seen]
    ok = len(new) >= min_new_words
    return Result(float(ok), ok, f"{len(new)} words not in the prompt (need {min_new_words})")


# Words of IFEval's constraint phrasing: they say how to answer, not what about, so they cannot show a
# reply is on topic.
_FORMAT_WORDS = set(
    "answer answers response respond entire words sentences sentence paragraphs paragraph sections section "
    "highlight highlighted markdown commas comma letter letters capital capitals capitalized lowercase uppercase "
    "title titles json format bullet bullets points point placeholders placeholder postscript quotation quotes "
    "marks repeat request keywords keyword ending phrase english language output wrap double separated "
    "asterisks asterisk following please write without using should contain least fewer exactly times include "
    "first second third change between other there their about which would could these those thing things "
    "markers divider dividers split using separate separately followed".split()
)


def on_topic(reply: str, prompt: str, min_shared: int = 1, ignore: frozenset[str] = frozenset()) -> Result:
    """The reply names at least `min_shared` of the prompt's topic words (5+ letters, not constraint wording,
    not in `ignore`)."""
    topic = {w for w in words(prompt) if len(w) >= 5 and w not in _FORMAT_WORDS and w not in ignore}
    tokens = words(reply)
    shared = {w for w in topic if _mentions(tokens, w)}
    ok = len(shared) >= min(min_shared, len(topic)) and bool(tokens)
    return Result(float(ok), ok, f"{len(shared)} of the prompt's {len(topic)} topic words")


# Markers of a turn in the argument: the reply weighs one consideration against another.
_CONTRAST = re.compile(
    r"\b(however|on the other hand|but|although|though|whereas|while|that said|then again|yet|"
    r"at the same time|conversely|nevertheless|even so|on one hand|on the one hand)\b",
    re.I,
)
# Names of a side or of the people on it: a reply that sets two of these out ("Arguments in favour: ...
# Arguments against: ...", "Some people think ... others ...") is two-sided without a contrast word.
_SIDE = re.compile(
    r"\b(?:(?:some|many)(?: people)? (?:argue|say|think|believe|feel|hold|would say)|others|other people"
    r"|(?:people|those) who (?:argue|say|think|believe|feel|hold|make this point|support|oppose)"
    r"|those (?:arguing|in favou?r|against|for it)|(?:the )?(?:case|arguments?|points?) (?:for|against|in favou?r)"
    r"|in favou?r|pros|cons|supporters|opponents|proponents|advocates|critics|sceptics|skeptics"
    r"|the other side|the opposing (?:side|view))\b",
    re.I,
)


def both_sides(reply: str) -> Result:
    """The reply weighs more than one side: two or more sentences or list items (3+ words each), and a
    contrast marker ("however", "but", ...) or two names of sides ("in favour" / "against", "some people
    think" / "others", "supporters" / "critics").

    Measured on natural balanced replies (bench/RESULTS.md, session 14): with contrast markers alone,
    61 % of IBM Debater ArgQ's and 92 % of ArgKP's pro-and-con replies failed, because a list under
    "Arguments in favour:" and "Arguments against:" needs no "but".
    """
    units = [s for s in re.split(r"(?<=[.!?])\s+|\n+", reply.strip()) if len(words(s)) >= 3]
    markers = _CONTRAST.findall(reply)
    sides = _SIDE.findall(reply)
    ok = len(units) >= 2 and (bool(markers) or len(sides) >= 2)
    return Result(float(ok), ok, f"{len(markers)} contrast markers, {len(sides)} sides named, {len(units)} sentences")


def engages(reply: str, prompt: str) -> Result:
    """The reply takes the request up instead of dodging it (emergent.text.dodge): no apology or condolence
    for what the request never said, no "as a chatbot, I don't have the ability to …".

    Why: SmolLM2's commonest failure is that dodge, and it named the request's subject often enough to pass
    the mentions, both-sides and originality checks ("I'm sorry for your loss, but as a chatbot, I don't have
    the ability to access personal data … If you need assistance with a wallet, …" passed an ethical item).
    The dodge control of tests/evaluate/controls.py scores the suite through it (bench/RESULTS.md, session 22).
    """
    why = dodge(reply, prompt)
    return Result(
        float(why is None), why is None, f"dodges: {why.replace('_', ' ')}" if why else "takes the request up"
    )


def check(spec: dict[str, Any], reply: str, prompt: str) -> Result:
    kind = spec["type"]
    if kind == "short_answer":
        return short_answer(reply, spec["aliases"], spec.get("max_words", 80))
    if kind == "final_number":
        return final_number(reply, str(spec["answer"]))
    if kind == "mentions":
        return mentions(reply, spec["groups"], spec.get("need"))
    if kind == "original":
        return original(reply, prompt, spec.get("min_new_words", 5))
    if kind == "on_topic":
        return on_topic(reply, prompt, spec.get("min_shared", 1))
    if kind == "both_sides":
        return both_sides(reply)
    if kind == "engages":
        return engages(reply, prompt)
    raise ValueError(f"unknown text check {kind!r}")
