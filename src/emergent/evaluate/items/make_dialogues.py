"""Build the shipped checked dialogues (items/dialogues/<kind>.jsonl) from ../shared/data and written.py.

Run by `python -m emergent.evaluate.items.make_items ../shared/data` after the single-turn items, or
alone: `python -m emergent.evaluate.items.make_dialogues ../shared/data`. The `conditioned` dialogues
re-ask the first items of four contexts as shipped (items/<context>.jsonl). Deterministic, file order. The kinds
follow MT-Bench-101's taxonomy (context memory, topic shift, self-correction) plus two probes of a
smooth change of register: a checked item asked after turns in another register (`conditioned`, paired
with the same item asked fresh, `fresh_id`) and a factual question asked twice (`retest`).

A dialogue line: {id, kind, context, contexts, turns, turn_checks, references, source, fresh_id?, tools?}.
`turn_checks[t]` decides the reply to user turn t (empty: not judged); `references[t]` passes them. The
judged turns of memory, topic_return and self_correction lack what they depend on, so the same turn
answered alone (the no-history control) cannot pass them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from emergent.evaluate.items import written

HERE = Path(__file__).parent / "dialogues"
KINDS = ("memory", "topic_return", "self_correction", "conditioned", "retest")
PER_KIND = 36
CONDITIONED_PER_SOURCE = 9  # the first 9 items of each context: a prompts_per_context of 9 keeps every twin
GSM8K_FROM = 60  # analytical.jsonl holds test lines 1-60; the dialogues take the next ones
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
CHAT_REPLY = "Oh, {x}, nice! That sounds like fun. How did it go, and what was the best part for you?"


def _original(n: int) -> dict:
    return {"type": "original", "min_new_words": n}


def dialogue(
    kind: str, key: str, turns: list[tuple[str, str, list[dict], str | None]], source: str, **extra: Any
) -> dict:
    """One line; turns are (context, user turn, checks on its reply, a reply that passes them)."""
    return {
        "id": f"{kind}/{key}",
        "kind": kind,
        "context": turns[-1][0],
        "contexts": [t[0] for t in turns],
        "turns": [t[1] for t in turns],
        "turn_checks": [t[2] for t in turns],
        "references": [t[3] for t in turns],
        "source": source,
        **extra,
    }


def _gsm8k_split(shared: Path) -> list[dict[str, Any]]:
    """GSM8K test problems whose last sentence is a question with no number and whose answer is not in the text.

    The facts (every number) are in the sentences before; the question alone cannot be answered.
    """
    from emergent.evaluate.items.make_items import _jsonl

    out = []
    for i, row in enumerate(_jsonl(shared / "gsm8k" / "test.jsonl")):
        if i < GSM8K_FROM:
            continue
        parts = re.split(r"(?<=[.!?])\s+", row["question"].strip())
        facts, question = " ".join(parts[:-1]), parts[-1]
        steps, gold = row["answer"].rsplit("####", 1)
        gold = gold.strip().replace(",", "")
        numbers = {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(row["question"])}
        if not question.endswith("?") or _NUMBER.search(question) or not _NUMBER.search(facts) or gold in numbers:
            continue
        working = re.sub(r"<<[^>]*>>", "", steps).strip()
        out.append({"line": i + 1, "facts": facts, "question": question, "question_full": row["question"],
                    "gold": gold, "working": working})  # fmt: skip
    return out


def memory(problems: list[dict[str, Any]]) -> list[dict]:
    chat = [(tpl, x) for tpl, fillers in written.CONVERSATIONAL for x, _ in fillers]
    out = []
    for k, p in enumerate(problems[:PER_KIND]):
        template, x = chat[k % len(chat)]
        turns = [
            ("analytical", written.MEMORY_FACTS.format(facts=p["facts"]), [], "Got it: I will keep those facts."),
            ("conversational", template.format(x=x), [], CHAT_REPLY.format(x=x)),
            ("analytical", written.MEMORY_QUESTION.format(question=p["question"]),
             [{"type": "final_number", "answer": p["gold"]}, _original(3)],
             f"{p['working']}\nThe answer is {p['gold']}."),
        ]  # fmt: skip
        out.append(dialogue("memory", f"gsm8k-test-{p['line'] - 1:04d}", turns, f"gsm8k test.jsonl line {p['line']}"))
    return out


def _factual_avoiding(words: list[str], start: int) -> tuple[int, str, list[str]]:
    """The first written factual question from `start` on whose text and answers name none of `words`."""
    from emergent.evaluate.checks.text import mentions

    n = len(written.FACTUAL)
    for k in range(n):
        i = (start + k) % n
        q, aliases = written.FACTUAL[i]
        if not mentions(f"{q} {' '.join(aliases)}", [words], need=1).passed:
            return i, q, aliases
    raise ValueError("no factual question avoids the topic words")


def topic_return() -> list[dict]:
    from emergent.evaluate.items.make_items import _content_words

    out = []
    for p, (character, name, thing, thing_word, place, place_word) in enumerate(written.CREATIVE_PARTS):
        form = written.CREATIVE_FORMS[p % len(written.CREATIVE_FORMS)]
        i, q, aliases = _factual_avoiding([name, thing_word], 3 * p)
        turns = [
            ("creative", written.STORY_OPENING.format(form=form, character=character, name=name, thing=thing, place=place),
             [], f"{name}, {character}, finds {thing} in {place} and must decide what it is for."),
            ("factual", q, [], aliases[0]),
            ("creative", written.STORY_RETURN, [{"type": "mentions", "groups": [[name], [thing_word]]}, _original(3)],
             f"How about 'Whispers of the {place_word.title()}'? Your hero is {name}, and at its heart is {thing}."),
        ]  # fmt: skip
        out.append(dialogue("topic_return", f"written-story-{p:02d}", turns, "written"))
    for t, ask in written.CHAT_RETURNS.items():
        template, fillers = written.CONVERSATIONAL[t]
        for f, (x, words) in enumerate(fillers):
            group = list(dict.fromkeys(words + _content_words(x)))
            i, q, aliases = _factual_avoiding(group, 7 * t + 11 * f)
            turns = [
                ("conversational", template.format(x=x), [], CHAT_REPLY.format(x=x)),
                ("factual", q, [], aliases[0]),
                ("conversational", ask, [{"type": "mentions", "groups": [group]}, _original(3)],
                 f"Sure, about {x}: start small, keep a short note of what you enjoy, and share it with a friend."),
            ]  # fmt: skip
            out.append(dialogue("topic_return", f"written-chat-{t:02d}-{f}", turns, "written"))
    return out


def _revised(base: str, instruction: str, title: str) -> str:
    """The reference story rewritten to follow one REVISIONS instruction."""
    if instruction == "change_case:english_lowercase":
        return base.lower()
    if instruction == "startend:end_checker":
        return f"{base} The end."
    if instruction == "detectable_format:number_bullet_lists":
        return "\n".join(f"* {s}" for s in re.split(r"(?<=[.!?])\s+", base))
    if instruction == "startend:quotation":
        return f'"{base}"'
    if instruction == "detectable_format:title":
        return f"<<{title}>>\n{base}"
    return base


def self_correction(problems: list[dict[str, Any]]) -> list[dict]:
    out = []
    for p, (character, name, thing, thing_word, place, place_word) in enumerate(written.CREATIVE_PARTS):
        form = written.CREATIVE_FORMS[p % len(written.CREATIVE_FORMS)]
        opening = f"Write {form} about {character} called {name} who finds {thing} in {place}."
        base = (
            f"In {place}, {name} found {thing}. {name} remembered an old promise. "
            f"At dawn {name} set off with the {thing_word} held close."
        )
        for j in range(3):
            ask, instruction, kwargs = written.REVISIONS[(p + 2 * j) % len(written.REVISIONS)]
            checks = [
                {"type": "ifeval", "instruction_id_list": [instruction], "kwargs": [kwargs]},
                {"type": "mentions", "groups": [[name], [thing_word]]},
                _original(5),
            ]
            turns = [
                ("creative", opening, [], base),
                ("creative", ask, checks, _revised(base, instruction, f"The {thing_word.title()} of the {place_word}")),
            ]
            out.append(dialogue("self_correction", f"written-{p:02d}-{instruction.split(':')[1]}", turns, "written"))
    for p in problems[: PER_KIND - len(out)]:
        turns = [
            ("analytical", p["question_full"], [], f"{p['working']}\nThe answer is {p['gold']}."),
            ("analytical", written.NUMBER_ONLY,
             [{"type": "final_number", "answer": p["gold"]},
              {"type": "ifeval", "instruction_id_list": ["length_constraints:number_words"],
               "kwargs": [{"relation": "less than", "num_words": 4}]},
              _original(1)],
             p["gold"]),
        ]  # fmt: skip
        out.append(
            dialogue("self_correction", f"gsm8k-test-{p['line'] - 1:04d}", turns, f"gsm8k test.jsonl line {p['line']}")
        )
    return out


def conditioned(fresh: dict[str, list[dict]]) -> list[dict]:
    """The first items of four checked contexts, each after a chat and an ethical question (another register)."""
    chat = [(tpl, x) for tpl, fillers in written.CONVERSATIONAL for x, _ in fillers]
    ethics = [(tpl, x) for tpl, fillers in written.ETHICAL for x, _ in fillers]
    out = []
    k = 0
    contexts = ("analytical", "technical", "tool_use", "instructional")
    # Round-robin over the four sources: any prefix (dialogues_per_kind) holds each, re-asking their first items.
    for j in range(CONDITIONED_PER_SOURCE):
        for context in contexts:
            it = fresh[context][j]
            (ct, cx), (et, ex) = chat[(3 * k) % len(chat)], ethics[(7 * k) % len(ethics)]
            turns = [
                ("conversational", ct.format(x=cx), [], CHAT_REPLY.format(x=cx)),
                ("ethical", et.format(x=ex), [], "It depends; however, honesty and the people affected matter most."),
                (context, it["turns"][-1], it["checks"], it["reference"]),
            ]
            extra = {"fresh_id": it["id"], **({"tools": it["tools"]} if it.get("tools") else {})}
            out.append(dialogue("conditioned", it["id"].replace("/", "-"), turns, it["source"], **extra))
            k += 1
    return out


def retest() -> list[dict]:
    """A written factual question, two turns in other registers, then the same question again (PICon)."""
    chat = [(tpl, x) for tpl, fillers in written.CONVERSATIONAL for x, _ in fillers]
    out = []
    for i, (q, aliases) in enumerate(written.FACTUAL[:PER_KIND]):
        checks = [{"type": "short_answer", "aliases": aliases}, _original(1)]
        asides = [c for c in chat if not any(a.lower() in c[0].format(x=c[1]).lower() for a in aliases)]
        (t1, x1), (t2, x2) = asides[(2 * i) % len(asides)], asides[(2 * i + 17) % len(asides)]
        turns = [
            ("factual", q, checks, aliases[0]),
            ("conversational", t1.format(x=x1), [], CHAT_REPLY.format(x=x1)),
            ("conversational", t2.format(x=x2), [], CHAT_REPLY.format(x=x2)),
            ("factual", q, checks, aliases[0]),
        ]
        out.append(dialogue("retest", f"written-{i:03d}", turns, "written", fresh_id=f"factual/written-{i:03d}"))
    return out


def shipped(context: str) -> list[dict]:
    """The single-turn items of one context as shipped (items/<context>.jsonl): the conditioned items' twins."""
    from emergent.evaluate.items.make_items import _jsonl

    return _jsonl(HERE.parent / f"{context}.jsonl")


def build(shared: Path) -> dict[str, list[dict]]:
    """{kind: dialogues}; the conditioned ones re-ask the shipped single-turn items, read from their files."""
    problems = _gsm8k_split(shared)
    fresh = {c: shipped(c) for c in ("analytical", "technical", "tool_use", "instructional")}
    return {
        "memory": memory(problems[:PER_KIND]),
        "topic_return": topic_return(),
        "self_correction": self_correction(problems[PER_KIND:]),
        "conditioned": conditioned(fresh),
        "retest": retest(),
    }


def with_engages(item: dict) -> dict:
    """The item with `engages` after its checks wherever those the request's own words can meet are (the
    subject named, both sides, on topic): a dodge that names the subject would pass them otherwise."""
    from emergent.evaluate.checks import REQUEST_WORD_CHECKS

    def add(checks: list[dict]) -> list[dict]:
        if not any(c["type"] in REQUEST_WORD_CHECKS for c in checks) or any(c["type"] == "engages" for c in checks):
            return checks
        return [*checks, {"type": "engages"}]

    out = {**item, "checks": add(item.get("checks") or [])}
    if item.get("turn_checks"):
        out["turn_checks"] = [add(c) for c in item["turn_checks"]]
    return out


def write_sets(folder: Path, sets: dict[str, list[dict]], unit: str) -> None:
    """One JSONL file per set name in `folder` (the committed item files), and a count line each."""
    folder.mkdir(exist_ok=True)
    for name, items in sets.items():
        path = folder / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for it in items:
                f.write(json.dumps(with_engages(it), ensure_ascii=False) + "\n")
        print(f"{path.relative_to(folder.parent)}: {len(items)} {unit}")


def write(sets: dict[str, list[dict]], folder: Path = HERE) -> None:
    write_sets(folder, sets, "dialogues")


if __name__ == "__main__":
    import sys

    write(build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")))
