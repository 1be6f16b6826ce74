"""The sentence of an ETHICS verdict that engages with the case itself, not just its label.

ETHICS gives a label, not a reply; templated verdicts alone left 18-54 distinct answers per 300
rows. This sentence restates what the asker did, the reason they gave, the role they hold or the
behaviour described, told back to them ("I took my sister's car" -> "You took your sister's car"),
so no two answers read alike. Where a case does not parse into those parts the sentence is left
out and the verdict stands on its own.
"""

from __future__ import annotations

import re

# The asker's words told back to them; "you" in a quoted excuse meant whoever asked the asker.
_PERSON = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
    "ourselves": "yourselves",
    "i'm": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
    "we're": "you're",
    "we've": "you've",
    "you": "they",
    "your": "their",
    "yours": "theirs",
    "yourself": "themselves",
    "you're": "they're",
    "you've": "they've",
}
_VERB_AFTER = {("you", "am"): "are", ("you", "was"): "were", ("they", "are"): "are", ("they", "were"): "were"}
_WORD = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?")
# The last "because"/"since" gives the reason ("I usually ..., but today I didn't because he ..."); else "but".
_BECAUSE = re.compile(r"^(.*),?\s+\b(?:because|since)\b:?\s+(.*)$", re.I | re.S)
_BUT = re.compile(r"^(.*?),?\s+\bbut\b\s+(.*)$", re.I | re.S)
_EXCUSE_LEAD = re.compile(r"^(?:no|but|well|sorry|actually)?[,.]?\s*(?:(?:because|since)\b[,]?\s*)?", re.I)
_ROLE = re.compile(r"^I(?: am|'m)\s+(.+?)[.!]?$", re.I)
_DUTY = re.compile(r"^(?:So,? )?I (should|must|ought to|need to|have to)\s+(.+?)[.!]?$", re.I)


def second_person(text: str) -> str:
    """First person -> second, second -> third: the asker's own words said back to them."""
    out: list[str] = []
    last = 0
    prev = ""
    for m in _WORD.finditer(text):
        word = m.group(0)
        key = word.lower().replace("’", "'")
        new = _PERSON.get(key) or _VERB_AFTER.get((prev, key), word)
        if new is not word and m.start() == 0 and word[:1].isupper():
            new = new.capitalize()
        out.append(text[last : m.start()] + new)
        prev = new.lower() if new is not word or key in ("am", "was") else ""
        last = m.end()
    return "".join(out) + text[last:]


def _clause(text: str) -> str:
    text = text.strip().rstrip(".!?").strip()
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def engagement(kind: str, slots: dict[str, str], fits: bool) -> str:
    """One sentence about this case, or "" when the case does not parse."""
    if kind == "commonsense":
        act = slots["act"]
        if "\n" in act or len(act) > 200 or not act.startswith("I "):
            return ""
        told = _clause(second_person(act))
        return f"{_cap(told)}, and that's not okay." if fits else f"{_cap(told)}, and there's nothing wrong with that."
    if kind == "justice":
        m = _BECAUSE.match(slots["claim"]) or _BUT.match(slots["claim"])
        if not m or len(m.group(2)) > 160:
            return ""
        claim, reason = _clause(second_person(m.group(1).rstrip(","))), _clause(second_person(m.group(2)))
        if re.search(r"\b(deserv\w*|entitled|justified|right to)\b", claim):
            return (
                f"That {reason} is a fair basis for saying {claim}." if fits else f"That {reason} doesn't mean {claim}."
            )
        return (
            f"That {reason} is a good reason for the change." if fits else f"That {reason} isn't a good reason for it."
        )
    if kind == "excuse":
        reason = _clause(second_person(_EXCUSE_LEAD.sub("", slots["excuse"].strip(), count=1)))
        if len(reason.split()) < 2:
            return ""
        return (
            f"That {reason} is a real reason to say no." if fits else f"That {reason} doesn't really get you out of it."
        )
    if kind == "role":
        role, duty = _ROLE.match(slots["scenario"].strip()), _DUTY.match(slots["excuse"].strip())
        if not role or not duty:
            return ""
        who, what = _clause(second_person(role.group(1))), _clause(second_person(duty.group(2)))
        return (
            f"As {who}, you {duty.group(1)} {what}."
            if fits
            else f"Being {who} doesn't mean you {duty.group(1)} {what}."
        )
    if kind == "virtue":
        scenario = slots["scenario"].strip()
        if len(scenario) > 200:
            return ""
        quoted = scenario.rstrip(".!?")
        return (
            f'"{quoted}": that is what being {slots["trait"]} looks like.'
            if fits
            else (f'"{quoted}" doesn\'t show {slots["trait"]}.')
        )
    return ""
