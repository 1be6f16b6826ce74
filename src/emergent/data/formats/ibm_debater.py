"""IBM Debater arguments, grouped into "the strongest arguments on both sides" of a debate topic.

Two variants, chosen from the file or zip member name:
- IBM-ArgQ-Rank-30k (`arg_quality_rank_30k`; CC-BY-SA-3.0): one record per topic. The user asks for the
  strongest arguments for and against; the assistant gives the top `per_side` pro and con arguments by
  the weighted-average quality score (WA), ties broken by file order.
- ArgKP-2021 (`ArgKP`; CDLA-Sharing-1.0, so set `license:` on that source): one record per topic + key
  point. The user raises the key point; the assistant gives up to `per_side` arguments that match it
  (label 1) and, for balance, up to `per_side` key points of the opposite stance on the same topic.

Rows are grouped, so a source's *input* count is the number of groups (plus any unreadable CSV rows,
which pass through as quarantined rows), not the number of CSV lines. `options: {per_side: N}` on the
source changes the bound (default 3).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import pair
from emergent.data.readers import BadRow, Row, iter_rows
from emergent.errors import ConfigError, Reject

CATEGORY = "ethical"
LICENSE = "CC-BY-SA-3.0"
ARGKP_LICENSE = "CDLA-Sharing-1.0"
DEFAULT_PER_SIDE = 3


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


def _per_side(source: Any) -> int:
    unknown = set(source.options) - {"per_side"}
    if unknown:
        raise ConfigError(
            f"source {source.name!r}: unknown option(s) {sorted(unknown)} for ibm_debater; known: per_side"
        )
    n = source.options.get("per_side", DEFAULT_PER_SIDE)
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"source {source.name!r}: options.per_side must be a positive integer, got {n!r}")
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


def rows(source: Any) -> Iterator[Row]:
    """One row per group (see the module docstring), in first-seen order of topics and key points."""
    per_side = _per_side(source)
    for path in source.files:
        kind = variant(path)
        if kind == "argkp" and source.license in (None, LICENSE):
            raise ConfigError(
                f"source {source.name!r}: {path} is ArgKP-2021, licensed {ARGKP_LICENSE} — "
                f"set `license: {ARGKP_LICENSE}` on this source (or give ArgKP its own source)"
            )
        yield from (_argkp_groups if kind == "argkp" else _argq_groups)(Path(path), per_side)


def _argq_groups(path: Path, per_side: int) -> Iterator[Row]:
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
        best = {s: [a for _, _, a in sorted(args)[:per_side]] for s, args in sides.items()}
        yield f"{path.name}#topic={topic}", {"variant": "argq", "topic": topic, "pro": best["pro"], "con": best["con"]}


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
    prompt = f'Debate topic: "{topic}". What are the strongest arguments on each side?'
    answer = (
        f'There are serious arguments on both sides of "{topic}".\n\n'
        f"Arguments in favour:\n{_bullets(pro)}\n\n"
        f"Arguments against:\n{_bullets(con)}\n\n"
        "Which side is more convincing depends on how you weigh these considerations against each other."
    )
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
    prompt = (
        f'Debate topic: "{topic}". One argument {side} it is: "{_sentence(key_point)}" '
        "What supports this point, and what would the other side say?"
    )
    answer = (
        f"People who make this point argue:\n{_bullets(arguments)}\n\n"
        f'Those arguing {other} "{topic}" would answer with points such as:\n{_bullets(counterpoints)}\n\n'
        "Both sides raise real considerations; the debate turns on which of them matters most to you."
    )
    return pair(prompt, answer)
