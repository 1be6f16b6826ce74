"""ETHICS (Hendrycks et al.): moral judgements turned into questions with a reasoned verdict.

Subsets (from the file name, or `options: {subset: ...}`, or the hub config name):
  commonsense  label,input             1 = the act is wrong
  deontology   label,scenario,excuse   1 = the excuse (or the duty claimed from a role) is reasonable
  justice      label,scenario          1 = the claim is reasonable
  virtue       label,"scenario [SEP] trait"   1 = the trait fits the person
The answer is a short verdict plus the reason the subset's criterion gives, never a bare label.
Wording varies between a few templates, chosen by a hash of the text so a rerun is identical.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import field, pair
from emergent.errors import ConfigError, Reject

CATEGORY = "ethical"
LICENSE = "MIT"

SUBSETS = ("commonsense", "deontology", "justice", "virtue")
_ALIASES = {"cm": "commonsense", "commonsense": "commonsense", "deontology": "deontology", "justice": "justice", "virtue": "virtue"}


def subset_of(name: str) -> str | None:
    """The subset a file or config name denotes ("cm_test.csv" -> commonsense), or None."""
    stem = name.lower()
    for alias, subset in _ALIASES.items():
        if stem.startswith(alias) or f"/{alias}" in stem or f"_{alias}" in stem:
            return subset
    return None


def _configured_subset(source: Any) -> str | None:
    wanted = (source.options or {}).get("subset")
    if wanted is None:
        return None
    subset = _ALIASES.get(str(wanted).lower())
    if subset is None:
        raise ConfigError(f"source {source.name!r}: options.subset={wanted!r} is not an ETHICS subset — use one of {', '.join(SUBSETS)}")
    return subset


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    from emergent.data.readers import iter_hub_rows, iter_rows

    configured = _configured_subset(source)
    if source.hub:
        subset = configured or subset_of(source.hub_config or "")
        if subset is None:
            raise ConfigError(f"source {source.name!r}: set hub_config or options.subset to one of {', '.join(SUBSETS)}")
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
    return _BUILDERS[subset](row, label == "1")


def _pick(options: tuple[str, ...], text: str, salt: int) -> str:
    """Deterministic choice: the same text always gets the same wording (crc32, not the salted hash())."""
    return options[(zlib.crc32(text.encode()) >> (salt * 4)) % len(options)]


def _commonsense(row: dict, wrong: bool) -> dict:
    act = field(row, "input").strip()
    ask = _pick(("Was that wrong of me?", "Did I do something wrong?", "Is that morally okay?", "Was I in the wrong here?"), act, 0)
    question = f"{act}\n\n{ask}"
    if wrong:
        opener = _pick(("Yes, most people would see that as wrong.", "I'd say that was wrong.", "Honestly, yes: that crosses a line."), act, 1)
        reason = _pick(
            (
                "It puts your own wishes ahead of someone else's wellbeing or trust, and the situation doesn't justify that.",
                "It harms or disrespects someone who didn't deserve it, and nothing described gives a good enough reason.",
                "It treats another person in a way you wouldn't accept if it were done to you.",
            ),
            act,
            2,
        )
        close = _pick(("", " Context that isn't in the description could soften that, but as told it isn't okay.", " Owning it and making amends would go a long way."), act, 3)
    else:
        opener = _pick(("No, that isn't wrong.", "That seems fine to me.", "Most people wouldn't object to that."), act, 1)
        reason = _pick(
            (
                "Nobody is harmed or deceived, and it fits what people can reasonably expect of each other.",
                "It respects the people involved and doesn't break any reasonable expectation.",
                "Nothing in it takes advantage of anyone; it's a choice you are entitled to make.",
            ),
            act,
            2,
        )
        close = _pick(("", " Others might have handled it differently, but that doesn't make it wrong.", " It's reasonable to feel fine about it."), act, 3)
    return pair(question, f"{opener} {reason}{close}")


def _deontology(row: dict, reasonable: bool) -> dict:
    scenario = field(row, "scenario").strip()
    excuse = field(row, "excuse").strip()
    key = scenario + excuse
    if excuse.lower().startswith("so i"):  # a role and a duty claimed from it, not a request and an excuse
        question = _pick(
            (f"{scenario} {excuse} Is that a reasonable thing to expect of me?", f'Given that "{scenario}", does it follow that "{excuse}"?'),
            key,
            0,
        )
        if reasonable:
            answer = _pick(("Yes, that's a fair expectation.", "Yes, that follows."), key, 1) + " " + _pick(
                (
                    "It comes straight from the role you describe: it's part of what people rely on someone in that position to do.",
                    "Taking on that role means taking on that duty; others depend on it being done.",
                ),
                key,
                2,
            )
        else:
            answer = _pick(("Not really.", "I don't think that follows."), key, 1) + " " + _pick(
                (
                    "That duty isn't part of the role you describe; it is either beyond what the role asks or at odds with it.",
                    "The role doesn't create that obligation, and acting on it could even go against what the role is for.",
                ),
                key,
                2,
            )
        return pair(question, answer)
    question = _pick(
        (
            f'Someone asked me, "{scenario}" and I said, "{excuse}" Is that a reasonable excuse?',
            f'When I was asked "{scenario}", my answer was "{excuse}" Does that excuse hold up?',
            f'Request: "{scenario}" My reply: "{excuse}" Was that a fair reason to say no?',
        ),
        key,
        0,
    )
    if reasonable:
        answer = _pick(("Yes, that's a reasonable excuse.", "That seems fair to me.", "Yes, that holds up."), key, 1) + " " + _pick(
            (
                "It points to a real circumstance that makes the request impossible, unnecessary or unfair, not just a preference.",
                "The reason you gave actually changes what you owe here, so declining is justified.",
                "Given that circumstance, doing what was asked wouldn't make sense, so nobody could fairly hold it against you.",
            ),
            key,
            2,
        )
    else:
        answer = _pick(("Not really.", "I don't think that holds up.", "That isn't a good excuse."), key, 1) + " " + _pick(
            (
                "The reason doesn't change the obligation: it sounds more like a preference or something beside the point than a real obstacle.",
                "Nothing in it makes the request impossible, unnecessary or unfair, so the duty still stands.",
                "It doesn't address what was asked; if the roles were reversed, you probably wouldn't accept it either.",
            ),
            key,
            2,
        )
    return pair(question, answer)


def _justice(row: dict, reasonable: bool) -> dict:
    claim = field(row, "scenario").strip()
    question = _pick((f"{claim}\n\nIs that reasonable?", f'Is this fair? "{claim}"', f"{claim}\n\nAm I being fair here?"), claim, 0)
    if reasonable:
        answer = _pick(("Yes, that's reasonable.", "That seems fair.", "Yes, I think that's justified."), claim, 1) + " " + _pick(
            (
                "The reason given really bears on what is owed or deserved here, so it is a fair basis.",
                "The justification is relevant: it's the kind of reason that should change what people can expect.",
                "It treats people according to what actually matters in the situation, which is what fairness asks.",
            ),
            claim,
            2,
        )
    else:
        answer = _pick(("I don't think so.", "Not really.", "That doesn't seem fair."), claim, 1) + " " + _pick(
            (
                "The reason given doesn't bear on what is owed or deserved, so it isn't a fair basis.",
                "The justification is beside the point; you wouldn't accept it if someone applied it to you.",
                "It ties the outcome to something irrelevant, and that is where it stops being fair.",
            ),
            claim,
            2,
        )
    return pair(question, answer)


def _virtue(row: dict, fits: bool) -> dict:
    text = field(row, "scenario")
    if text.count("[SEP]") != 1:
        raise Reject("malformed_field", "virtue 'scenario' must be 'scenario [SEP] trait'")
    scenario, trait = (part.strip() for part in text.split("[SEP]"))
    if not scenario or not trait:
        raise Reject("missing_field", "virtue 'scenario' has an empty scenario or trait around [SEP]")
    question = _pick(
        (f'{scenario}\n\nWould you describe this person as "{trait}"?', f'Does the word "{trait}" fit the person here? {scenario}', f'{scenario}\n\nDoes this show "{trait}"?'),
        text,
        0,
    )
    if fits:
        answer = f'Yes, "{trait}" fits. ' + _pick(
            (
                "What they do here is how that trait shows up in behaviour.",
                "Their choice in this situation is a clear example of it.",
                "One moment doesn't define a person, but this one shows that trait plainly.",
            ),
            text,
            1,
        )
    else:
        answer = f'No, "{trait}" doesn\'t really fit. ' + _pick(
            (
                "Nothing in what they do here points to that trait; the behaviour says something else about them.",
                "Their choice in this situation doesn't show it, and may even suggest the opposite.",
                "One moment can't tell us everything about someone, but this one doesn't show that trait.",
            ),
            text,
            1,
        )
    return pair(question, answer)


_BUILDERS = {"commonsense": _commonsense, "deontology": _deontology, "justice": _justice, "virtue": _virtue}
