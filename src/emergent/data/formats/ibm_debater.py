"""IBM Debater arguments, grouped into "the strongest arguments on both sides" of a debate topic.

Two variants, chosen from the file or zip member name:
- IBM-ArgQ-Rank-30k (`arg_quality_rank_30k`; CC-BY-SA-3.0): `rows_per_topic` records per topic (default
  1). The user asks where the topic stands; the assistant gives `per_side` pro and con arguments by the
  weighted-average quality score (WA), ties broken by file order: the best ones in the topic's first
  record, the next best in its second, and so on, so no argument is said twice.
- ArgKP-2021 (`ArgKP`; CDLA-Sharing-1.0, so set `license:` on that source): one record per topic + key
  point. The user raises the key point; the assistant gives up to `per_side` arguments that match it
  (label 1) and, for balance, up to `per_side` key points of the opposite stance on the same topic.

The user's words come from several phrasings, chosen per record by a stable hash: most are the topic
turned into the plain question a person would ask ("We should abandon marriage" -> "Should we abandon
marriage?"), one is the dataset's own "Debate topic: ..." frame. A single template would teach the
balanced reply only for that template, and lets a classifier recognise the corpus instead of the request
(docs/design.md); the replies vary their frame the same way.

Rows are grouped, so a source's *input* count is the number of records (plus any unreadable CSV rows,
which pass through as quarantined rows), not the number of CSV lines. `options: {per_side: N,
rows_per_topic: K}` on the source changes the bounds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import pair, pick
from emergent.data.readers import BadRow, Row, iter_rows
from emergent.errors import ConfigError, Reject

CATEGORY = "ethical"
LICENSE = "CC-BY-SA-3.0"
ARGKP_LICENSE = "CDLA-Sharing-1.0"
DEFAULT_PER_SIDE = 3
OPTIONS = {
    "per_side": "arguments per side in a reply (default 3)",
    "rows_per_topic": "ArgQ records per topic, each from the next-best arguments (default 1, at most 10)",
}


def variant(path: Path | str) -> str:
    """'argq' or 'argkp' from a file name or `archive.zip!member` name."""
    name = str(path).lower()
    if "argkp" in name or "key_point" in name:
        return "argkp"
    if "arg_quality" in name or "argq" in name:
        return "argq"
    raise ConfigError(
        f"{path}: not an IBM Debater file this format knows — expected a name containing "
        "'arg_quality_rank_30k' (IBM-ArgQ-Rank-30k) or 'ArgKP' (ArgKP-2021)"
    )


def _option(source: Any, name: str, default: int) -> int:
    n = source.options.get(name, default)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"source {source.name!r}: options.{name} must be a positive integer, got {n!r}")
    return n


_CONTRACTION = re.compile(r"\b(do|does|did|ca|wo|is|are|was|were|should|would|could|have|has)nt\b", re.I)


def clean(text: str) -> str:
    """An argument as sentences: stray leading punctuation/backslashes gone, spaces collapsed, capitalised.

    The crowd-sourced arguments are mostly lower case after the first word; sentence starts are restored,
    and so are the pronoun "I" and the apostrophes of unambiguous contractions ("dont", "cant"), since
    the assistant says these words. "its" stays: it is as often right as wrong.
    """
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^[`'\\.,;:\-\s]+", "", text)
    text = re.sub(r"(?<![\w'’.])i(?=(?:'[a-z]+)?(?![\w'’]|\.e\.))", "I", text)
    text = _CONTRACTION.sub(r"\1n't", text)
    text = re.sub(r"([.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text[:1].upper() + text[1:]


def _options(source: Any) -> tuple[int, int]:
    """(per_side, rows_per_topic); ConfigError when either cannot work."""
    per_side = _option(source, "per_side", DEFAULT_PER_SIDE)
    rows_per_topic = _option(source, "rows_per_topic", 1)
    if rows_per_topic > len(QUESTIONS):
        raise ConfigError(
            f"source {source.name!r}: options.rows_per_topic is {rows_per_topic}, but a topic has only "
            f"{len(QUESTIONS)} phrasings, and two records with the same request would be dropped as conflicting"
        )
    return per_side, rows_per_topic


def check_options(source: Any) -> None:
    _options(source)


def rows(source: Any) -> Iterator[Row]:
    """One row per group (see the module docstring), in first-seen order of topics and key points."""
    per_side, rows_per_topic = _options(source)
    for path in source.files:
        kind = variant(path)
        if kind == "argkp" and source.license in (None, LICENSE):
            raise ConfigError(
                f"source {source.name!r}: {path} is ArgKP-2021, licensed {ARGKP_LICENSE} — "
                f"set `license: {ARGKP_LICENSE}` on this source (or give ArgKP its own source)"
            )
        if kind == "argkp":
            yield from _argkp_groups(Path(path), per_side)
        else:
            yield from _argq_groups(Path(path), per_side, rows_per_topic)


def _argq_groups(path: Path, per_side: int, rows_per_topic: int) -> Iterator[Row]:
    topics: dict[str, dict[str, list]] = {}
    for origin, row in iter_rows(path):
        if isinstance(row, BadRow):
            yield origin, row
            continue
        try:
            topic, argument = row["topic"].strip(), clean(row["argument"])
            score, stance = float(row["WA"]), int(row["stance_WA"])
        except (KeyError, ValueError, AttributeError) as err:
            yield origin, BadRow(origin, "malformed_row", f"need topic, argument, WA, stance_WA ({err}): {row}")
            continue
        if not topic or not argument or stance not in (1, -1):
            yield origin, BadRow(origin, "malformed_row", f"empty topic/argument or neutral stance: {row}")
            continue
        side = "pro" if stance == 1 else "con"
        topics.setdefault(topic, {"pro": [], "con": []})[side].append((-score, len(topics[topic][side]), argument))
    for topic, sides in topics.items():
        ranked = {s: [a for _, _, a in sorted(args)] for s, args in sides.items()}
        for part in range(rows_per_topic):
            pro, con = (ranked[s][part * per_side : (part + 1) * per_side] for s in ("pro", "con"))
            if part and (not pro or not con):
                break  # the topic has run out of arguments on one side: fewer records, none one-sided
            origin = f"{path.name}#topic={topic}" + (f"#part={part}" if part else "")
            record = {"variant": "argq", "topic": topic, "pro": pro, "con": con, "part": part}
            yield origin, record


def _argkp_groups(path: Path, per_side: int) -> Iterator[Row]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for origin, row in iter_rows(path):
        if isinstance(row, BadRow):
            yield origin, row
            continue
        try:
            topic, key_point, argument = row["topic"].strip(), clean(row["key_point"]), clean(row["argument"])
            stance, label = int(row["stance"]), int(row["label"])
        except (KeyError, ValueError, AttributeError) as err:
            yield (
                origin,
                BadRow(origin, "malformed_row", f"need topic, argument, key_point, stance, label ({err}): {row}"),
            )
            continue
        if not topic or not key_point or not argument or stance not in (1, -1):
            yield origin, BadRow(origin, "malformed_row", f"empty field or neutral stance: {row}")
            continue
        group = groups.setdefault((topic, key_point), {"stance": stance, "arguments": []})
        if label == 1 and argument not in group["arguments"]:
            group["arguments"].append(argument)
    for (topic, key_point), group in groups.items():
        opposite = [kp for (t, kp), g in groups.items() if t == topic and g["stance"] != group["stance"]]
        yield (
            f"{path.name}#topic={topic}#key_point={key_point}",
            {
                "variant": "argkp",
                "topic": topic,
                "key_point": key_point,
                "stance": group["stance"],
                "arguments": group["arguments"][:per_side],
                "counterpoints": opposite[:per_side],
            },
        )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def question(topic: str) -> str:
    """The yes/no question a person would ask about a debate motion; the motion in quotes when its form is unknown.

    The motion's first word loses its capital unless it has another one ("USA"). The crowd's own
    writing gives no reliable sign of a name (its writers lower-case "holocaust" and copy "Routine" from
    the motion), and of the dataset's motions only "Holocaust denial ..." is hurt.
    """
    body = topic.rstrip(".")
    first = body.split(" ", 1)[0]
    subject = body if any(c.isupper() for c in first[1:]) else _lower_first(body)
    if m := re.fullmatch(r"[Ww]e should (.+)", body):
        return f"Should we {m.group(1)}?"
    if m := re.fullmatch(r"(.+?) should (.+)", subject):
        return f"Should {m.group(1)} {m.group(2)}?"
    if m := re.fullmatch(r"(.+?) (brings|bring) more harm than good", subject):
        return f"{'Does' if m.group(2) == 'brings' else 'Do'} {m.group(1)} bring more harm than good?"
    if m := re.fullmatch(r"(.+?) (is|are) (.+)", subject):
        return f"{m.group(2).capitalize()} {m.group(1)} {m.group(3)}?"
    return f'What do you make of the claim "{body}"?'


# Each takes the question (q), its lower-cased form (lq) and the motion (topic). A topic's records use
# consecutive entries from a start picked by hash, so `rows_per_topic` records never share a request.
QUESTIONS = (
    "{q}",
    "{q} I can't make up my mind.",
    "What do you think: {lq}",
    "My friend and I argued about this last night. {q}",
    "I'm writing an essay and keep going back and forth. {q}",
    "{q} What are the best arguments on each side?",
    'Debate topic: "{topic}". What are the strongest arguments on each side?',
    "Honest opinion: {lq}",
    "Is there a right answer to this? {q}",
    "{q} Give me both sides, please.",
)
OPENINGS = (
    "There are serious arguments on both sides.",
    "Reasonable people disagree about this, and both sides have a case.",
    "It depends on what you weigh most, so here is the strongest case each way.",
    "There isn't one obvious answer, but the main arguments are clear.",
)
CLOSINGS = (
    "Which side is more convincing depends on how you weigh these considerations against each other.",
    "Where you land depends on which of these values matters most to you.",
    "It is worth testing your own view against the strongest version of the other side before settling it.",
)


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {_sentence(i)}" for i in items)


def _sentence(text: str) -> str:
    return text if text[-1:] in ".!?\"'" else f"{text}."


def convert(row: dict, source: Any) -> dict:
    if row.get("variant") == "argkp":
        return _argkp(row)
    topic, pro, con = row.get("topic"), row.get("pro") or [], row.get("con") or []
    if not topic:
        raise Reject("missing_field", "no topic")
    if not pro or not con:
        raise Reject("one_sided", f"topic {topic!r} has {len(pro)} pro and {len(con)} con arguments")
    part = int(row.get("part") or 0)
    q = question(topic)
    prompt = pick(QUESTIONS, topic, part).format(q=q, lq=_lower_first(q), topic=topic)
    key = f"{topic}#{part}"
    if part % 2 == 0:
        body = f"Arguments in favour:\n{_bullets(pro)}\n\nArguments against:\n{_bullets(con)}"
    else:  # the same content as prose, so the bucket does not teach one layout either
        body = (
            f"Those in favour argue along these lines. {' '.join(_sentence(a) for a in pro)}\n\n"
            f"Those against answer like this. {' '.join(_sentence(a) for a in con)}"
        )
    answer = f"{pick(OPENINGS, key)}\n\n{body}\n\n{pick(CLOSINGS, key, 1)}"
    return pair(prompt, answer)


def _argkp(row: dict) -> dict:
    topic, key_point = row.get("topic"), row.get("key_point")
    arguments, counterpoints = row.get("arguments") or [], row.get("counterpoints") or []
    if not topic or not key_point:
        raise Reject("missing_field", "no topic or key point")
    if not arguments:
        raise Reject("no_matching_arguments", f"no argument matches key point {key_point!r}")
    if not counterpoints:
        raise Reject("one_sided", f"topic {topic!r} has no key point on the other side")
    side, other = ("for", "against") if row.get("stance") == 1 else ("against", "for")
    q = question(topic)
    point = _sentence(key_point)
    prompt = pick(
        (
            f'Debate topic: "{topic}". One argument {side} it is: "{point}" '
            "What supports this point, and what would the other side say?",
            f'{q} Someone told me: "{point}" Is that a fair point, and what would the other side say?',
            f'On the question "{q}", people often say: "{point}" How strong is that, and what is the reply to it?',
        ),
        f"{topic}#{key_point}",
    )
    answer = (
        f"People who make this point argue:\n{_bullets(arguments)}\n\n"
        f"Those arguing {other} it would answer with points such as:\n{_bullets(counterpoints)}\n\n"
        f"{pick(CLOSINGS, f'{topic}#{key_point}')}"
    )
    return pair(prompt, answer)
