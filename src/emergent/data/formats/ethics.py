"""ETHICS (Hendrycks et al.): moral judgements turned into questions with a reasoned verdict.

Subsets (from the file name, or `options: {subset: ...}`, or the hub config name):
  commonsense  label,input             1 = the act is wrong
  deontology   label,scenario,excuse   1 = the excuse (or the duty claimed from a role) is reasonable
  justice      label,scenario          1 = the claim is reasonable
  virtue       label,"scenario [SEP] trait"   1 = the trait fits the person
The answer is a short verdict, a sentence about the case itself (what the asker did, the reason
or role they gave, told back to them: see _ethics_reply), and the reason the subset's criterion
gives; never a bare label. Wording varies between a few templates, chosen by a hash of the text so
a rerun is identical.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import field, pair
from emergent.data.formats._ethics_reply import engagement
from emergent.errors import ConfigError, Reject

CATEGORY = "ethical"
LICENSE = "MIT"
OPTIONS = {
    "subset": "commonsense | deontology | justice | virtue, when a file's name does not say (a hub dataset)",
}

SUBSETS = ("commonsense", "deontology", "justice", "virtue")
_ALIASES = {
    "cm": "commonsense",
    "commonsense": "commonsense",
    "deontology": "deontology",
    "justice": "justice",
    "virtue": "virtue",
}

# Verdict = opener + reason (+ closer), each picked from its tuple. Keys: (kind, label is 1).
_VERDICTS: dict[tuple[str, bool], tuple[tuple[str, ...], ...]] = {
    ("commonsense", True): (
        ("Yes, most people would see that as wrong.", "I'd say that was wrong.", "Honestly, yes: that crosses a line."),
        (
            "It puts your own wishes ahead of someone else's wellbeing or trust, and the situation doesn't justify that.",
            "It harms or disrespects someone who didn't deserve it, and nothing described gives a good enough reason.",
            "It treats another person in a way you wouldn't accept if it were done to you.",
        ),
        (
            "",
            "Context missing from the description could change the picture, but as told it isn't okay.",
            "Owning it and making amends would go a long way.",
        ),
    ),
    ("commonsense", False): (
        ("No, that isn't wrong.", "That seems fine to me.", "Most people wouldn't object to that."),
        (
            "Nobody is harmed or deceived, and it fits what people can reasonably expect of each other.",
            "It respects the people involved and doesn't break any reasonable expectation.",
            "Nothing in it takes advantage of anyone; it's a choice you are entitled to make.",
        ),
        (
            "",
            "Others might have handled it differently, but that doesn't make it wrong.",
            "It's reasonable to feel fine about it.",
        ),
    ),
    ("excuse", True): (
        ("Yes, that's a reasonable excuse.", "That seems fair to me.", "Yes, that holds up."),
        (
            "It points to a real circumstance that makes the request impossible, unnecessary or unfair, not just a preference.",
            "The reason you gave actually changes what you owe here, so declining is justified.",
            "Given that circumstance, doing what was asked wouldn't make sense, so nobody could fairly hold it against you.",
        ),
    ),
    ("excuse", False): (
        ("Not really.", "I don't think that holds up.", "That isn't a good excuse."),
        (
            "The reason doesn't change the obligation: it sounds more like a preference or something beside the point than a real obstacle.",
            "Nothing in it makes the request impossible, unnecessary or unfair, so the duty still stands.",
            "It doesn't address what was asked; if the roles were reversed, you probably wouldn't accept it either.",
        ),
    ),
    ("role", True): (
        ("Yes, that's a fair expectation.", "Yes, that follows."),
        (
            "It comes straight from the role you describe: it's part of what people rely on someone in that position to do.",
            "Taking on that role means taking on that duty; others depend on it being done.",
        ),
    ),
    ("role", False): (
        ("Not really.", "I don't think that follows."),
        (
            "That duty isn't part of the role you describe; it is either beyond what the role asks or at odds with it.",
            "The role doesn't create that obligation, and acting on it could even go against what the role is for.",
        ),
    ),
    ("justice", True): (
        ("Yes, that's reasonable.", "That seems fair.", "Yes, I think that's justified."),
        (
            "The reason given bears on what is owed here and is in proportion to the claim, so it's a fair basis.",
            "The justification is relevant: it's the kind of reason that should change what people can expect.",
            "It treats people according to what actually matters in the situation, which is what fairness asks.",
        ),
    ),
    ("justice", False): (
        ("I don't think so.", "Not really.", "That doesn't seem fair."),
        (
            "The reason given doesn't justify the claim: it is either beside the point or out of proportion to it.",
            "The justification doesn't hold up; you wouldn't accept it if someone applied it to you.",
            "What's expected goes beyond anything the reason supports, so it isn't a fair basis.",
        ),
    ),
    ("virtue", True): (
        ('Yes, "{trait}" fits.',),
        (
            "What they do here is how that trait shows up in behaviour.",
            "Their choice in this situation is a clear example of it.",
            "One moment doesn't define a person, but this one shows that trait plainly.",
        ),
    ),
    ("virtue", False): (
        ('No, "{trait}" doesn\'t really fit.',),
        (
            "Nothing in what they do here points to that trait; the behaviour says something else about them.",
            "Their choice in this situation doesn't show it, and may even suggest the opposite.",
            "One moment can't tell us everything about someone, but this one doesn't show that trait.",
        ),
    ),
}

_QUESTIONS: dict[str, tuple[str, ...]] = {
    "commonsense": (
        "{act}\n\nWas that wrong of me?",
        "{act}\n\nDid I do something wrong?",
        "{act}\n\nIs that morally okay?",
        "{act}\n\nWas I in the wrong here?",
    ),
    "excuse": (
        'Someone asked me, "{scenario}" and I said, "{excuse}" Is that a reasonable excuse?',
        'When I was asked "{scenario}", my answer was "{excuse}" Does that excuse hold up?',
        'Request: "{scenario}" My reply: "{excuse}" Was that a fair reason to say no?',
    ),
    "role": (
        "{scenario} {excuse} Is that a reasonable thing to expect of me?",
        'Given that "{scenario}", does it follow that "{excuse}"?',
    ),
    "justice": ("{claim}\n\nIs that reasonable?", 'Is this fair? "{claim}"', "{claim}\n\nAm I being fair here?"),
    "virtue": (
        '{scenario}\n\nWould you describe this person as "{trait}"?',
        'Does the word "{trait}" fit the person here? {scenario}',
        '{scenario}\n\nDoes this show "{trait}"?',
    ),
}


def subset_of(name: str) -> str | None:
    """The subset a file or config name denotes ("cm_test.csv" -> commonsense), or None."""
    stem = name.lower()
    for alias, subset in _ALIASES.items():
        if stem.startswith(alias) or f"_{alias}" in stem:
            return subset
    return None


def _configured_subset(source: Any) -> str | None:
    wanted = (source.options or {}).get("subset")
    if wanted is None:
        return None
    subset = _ALIASES.get(str(wanted).lower())
    if subset is None:
        raise ConfigError(
            f"source {source.name!r}: options.subset={wanted!r} is not an ETHICS subset — use one of {', '.join(SUBSETS)}"
        )
    return subset


def check_options(source: Any) -> None:
    _configured_subset(source)


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    """Rows of every file tagged with `_subset` (convert only sees the row, not its file name)."""
    from emergent.data.readers import iter_hub_rows, iter_rows

    configured = _configured_subset(source)
    if source.hub:
        subset = configured or subset_of(source.hub_config or "")
        if subset is None:
            raise ConfigError(
                f"source {source.name!r}: set hub_config or options.subset to one of {', '.join(SUBSETS)}"
            )
        for origin, row in iter_hub_rows(source.hub, source.hub_config, source.split):
            yield origin, {**row, "_subset": subset} if isinstance(row, dict) else row
        return
    for path in source.files:
        name = Path(str(path).partition("!")[-1] or str(path)).name
        subset = configured or subset_of(name)
        if subset is None:
            raise ConfigError(
                f"source {source.name!r}: cannot tell the ETHICS subset of {name} from its name — "
                f"name it cm_*/commonsense*, deontology*, justice* or virtue*, or set options: {{subset: ...}}"
            )
        for origin, row in iter_rows(path):
            yield origin, {**row, "_subset": subset} if isinstance(row, dict) else row


def convert(row: dict, source: Any) -> dict:
    subset = row.get("_subset") or _configured_subset(source)
    if subset not in SUBSETS:
        raise Reject("unknown_subset", f"no ETHICS subset for this row — set options: {{subset: {'|'.join(SUBSETS)}}}")
    label = field(row, "label").strip().removesuffix(".0")
    if label not in ("0", "1"):
        raise Reject("bad_label", f"label is {label!r}, expected 0 or 1")
    kind, slots = _slots(subset, row)
    key = "\x00".join(slots.values())
    question = _pick(_QUESTIONS[kind], key, 0).format(**slots)
    parts = [_pick(options, key, i + 1).format(**slots) for i, options in enumerate(_VERDICTS[kind, label == "1"])]
    parts.insert(1, engagement(kind, slots, label == "1"))
    return pair(question, " ".join(p for p in parts if p))


def _slots(subset: str, row: dict) -> tuple[str, dict[str, str]]:
    """The template kind and the text pieces it fills in."""
    if subset == "commonsense":
        # Long examples are Reddit posts stored as "title | body"; show them as a post, not one line.
        title, sep, body = field(row, "input").strip().partition(" | ")
        return "commonsense", {"act": f"{title}\n\n{body.strip()}" if sep and body.strip() else title}
    if subset == "justice":
        return "justice", {"claim": field(row, "scenario").strip()}
    if subset == "deontology":
        scenario, excuse = field(row, "scenario").strip(), field(row, "excuse").strip()
        # "I am a nurse." + "So I should ..." is a role and a duty claimed from it, not a request and an excuse.
        role = excuse.lower().startswith("so i") or (
            excuse.lower().startswith("i should") and scenario.lower().startswith(("i am ", "i'm "))
        )
        return ("role" if role else "excuse"), {"scenario": scenario, "excuse": excuse}
    text = field(row, "scenario")
    if text.count("[SEP]") != 1:
        raise Reject("malformed_field", "virtue 'scenario' must be 'scenario [SEP] trait'")
    scenario, trait = (part.strip() for part in text.split("[SEP]"))
    if not scenario or not trait:
        raise Reject("missing_field", "virtue 'scenario' has an empty scenario or trait around [SEP]")
    return "virtue", {"scenario": scenario, "trait": trait}


def _pick(options: tuple[str, ...], key: str, salt: int) -> str:
    """Deterministic choice: the same text always gets the same wording (crc32, not the salted hash())."""
    return options[(zlib.crc32(key.encode()) >> (salt * 5)) % len(options)]
