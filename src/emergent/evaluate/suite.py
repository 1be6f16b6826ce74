"""The evaluation suite: checked items and single-turn prompts per context, consistency and transition dialogues.

A YAML suite file has `prompts: {context: [text | {prompt, tools}]}`, `consistency: [{context, turns,
tools?}]` and `transitions: [{from, to, shift_at, turns, tools?}]`; several files merge. `shift_at` is
the 0-based index of the user turn where the topic changes.

A JSONL suite file holds checked items, one per line: {id, context, turns, checks, reference?, tools?,
family?} (the format `emergent eval suite --export` writes; `family` names the request template an item was
filled in from, see evaluate/checks/template.py). Each check decides the reply's content
(evaluate/checks). A line whose kind is a dialogue kind (DIALOGUE_KINDS: memory, topic_return,
self_correction, conditioned, retest) is a checked dialogue: {turn_checks, references} per user turn,
scored by evaluate/dialogue.py and kept out of the primary metric. "default" is the shipped items
(items/*.jsonl), the shipped dialogues (items/dialogues/*.jsonl), then suites/default.yaml, so a fixed
subset (`prompts_per_context`) takes checked items first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Item:
    """One thing to generate for: a dialogue of scripted user turns (a single prompt is one turn)."""

    id: str
    kind: str  # "prompt" | "consistency" | "transition" | one of DIALOGUE_KINDS
    turns: list[str]
    contexts: list[str]  # expected context per user turn
    tools: list[dict] | None = None
    shift_at: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)  # decide the last turn's reply (evaluate/checks)
    reference: str | None = None  # a reply that passes the checks (gold answer), where one exists
    # Checked dialogues: the checks of each user turn's reply ([] = not judged) and a reply that passes them.
    turn_checks: list[list[dict[str, Any]]] = field(default_factory=list)
    references: list[str | None] = field(default_factory=list)

    @property
    def family(self) -> str:
        """The request template the item was filled in from (`family` in its file), or its own id."""
        return self.meta.get("family", self.id)

    def export(self) -> dict[str, Any]:
        """The item as one line of `emergent eval suite --export`."""
        return {
            "id": self.id,
            "context": self.contexts[-1],
            "contexts": self.contexts,
            "kind": self.kind,
            "messages": [{"role": "user", "content": t} for t in self.turns],
            "turns": self.turns,
            "tools": self.tools,
            "shift_at": self.shift_at,
            "checks": self.checks,
            "reference": self.reference,
            **({"turn_checks": self.turn_checks, "references": self.references} if self.turn_checks else {}),
            **{k: self.meta[k] for k in ("source", "fresh_id", "family") if k in self.meta},
        }


@dataclass
class Suite:
    prompts: list[Item]
    consistency: list[Item]
    transitions: list[Item]
    dialogues: list[Item] = field(default_factory=list)  # checked dialogues, in DIALOGUE_KINDS order

    @property
    def items(self) -> list[Item]:
        return self.prompts + self.consistency + self.transitions + self.dialogues

    def contexts(self) -> list[str]:
        return sorted({c for it in self.items for c in it.contexts})

    @property
    def families(self) -> dict[str, str]:
        """{item id: family}: the request template each item was filled in from (Item.family)."""
        return {it.id: it.family for it in self.items}


ITEM_FILES = (
    "factual",
    "analytical",
    "technical",
    "tool_use",
    "instructional",
    "empathetic",
    "creative",
    "conversational",
    "ethical",
)
# Checked dialogues (MT-Bench-101's context memory, topic shift and self-correction; a checked item after
# turns in another register; a question asked again): one file each under items/dialogues/.
DIALOGUE_KINDS = ("memory", "topic_return", "self_correction", "conditioned", "retest")


def _suite_paths(name: str) -> list[Path]:
    if name == "default":
        here = resources.files("emergent.evaluate")
        items = [Path(str(here.joinpath(f"items/{c}.jsonl"))) for c in ITEM_FILES]
        dialogues = [Path(str(here.joinpath(f"items/dialogues/{k}.jsonl"))) for k in DIALOGUE_KINDS]
        return [*items, *dialogues, Path(str(here.joinpath("suites/default.yaml")))]
    return [Path(name)]


def load_items_file(path: Path) -> Suite:
    """Parse a JSONL file of checked items; errors name the file, the line and the fix."""
    import json

    from emergent.evaluate.checks import TYPES

    if not path.is_file():
        raise FileNotFoundError(f"{path}: suite file not found — list existing files in eval.suites")
    prompts, dialogues = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"line {n}"
            try:
                e = json.loads(line)
            except ValueError as err:
                raise _err(path, where, f"not JSON ({err})") from None
            if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not isinstance(e.get("context"), str):
                raise _err(path, where, "needs id and context strings")
            turns = e.get("turns") or [m["content"] for m in e.get("messages") or [] if m.get("role") == "user"]
            turns = _turns(path, where, turns)
            checks = e.get("checks") or []
            if not _checks_ok(checks, TYPES):
                raise _err(path, where, f"checks must be a list of {{type: ...}} with a type among {sorted(TYPES)}")
            meta = {k: e[k] for k in ("source", "fresh_id", "family") if k in e}
            if e.get("kind") in DIALOGUE_KINDS:
                dialogues.append(_dialogue(path, where, e, turns, meta, TYPES))
                continue
            prompts.append(
                Item(e["id"], "prompt", turns, [e["context"]] * len(turns), _tools(path, where, e.get("tools")),
                     meta=meta, checks=checks, reference=e.get("reference"))
            )  # fmt: skip
    return Suite(prompts, [], [], dialogues)


def _checks_ok(checks: Any, types: set[str]) -> bool:
    return isinstance(checks, list) and all(isinstance(c, dict) and c.get("type") in types for c in checks)


def _dialogue(path: Path, where: str, e: dict, turns: list[str], meta: dict, types: set[str]) -> Item:
    """A checked dialogue line: turn_checks and references hold one entry per user turn."""
    per_turn = e.get("turn_checks")
    if not isinstance(per_turn, list) or len(per_turn) != len(turns) or not all(_checks_ok(c, types) for c in per_turn):
        raise _err(path, where, f"turn_checks must hold one list of checks per user turn ({len(turns)})")
    if not any(per_turn):
        raise _err(path, where, "a dialogue needs checks on at least one turn (turn_checks)")
    references = e.get("references") or [None] * len(turns)
    if not isinstance(references, list) or len(references) != len(turns):
        raise _err(path, where, f"references must hold one reply (or null) per user turn ({len(turns)})")
    contexts = e.get("contexts") or [e["context"]] * len(turns)
    if not isinstance(contexts, list) or len(contexts) != len(turns) or not all(isinstance(c, str) for c in contexts):
        raise _err(path, where, f"contexts must hold one context per user turn ({len(turns)})")
    return Item(e["id"], e["kind"], turns, list(contexts), _tools(path, where, e.get("tools")), meta=meta,
                turn_checks=per_turn, references=references)  # fmt: skip


def _err(path: Path, where: str, msg: str) -> ValueError:
    return ValueError(f"{path}: {where}: {msg}")


def _tools(path: Path, where: str, tools: Any) -> list[dict] | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) and "name" in t for t in tools):
        raise _err(path, where, "tools must be a list of JSON schemas with a 'name' (see suites/default.yaml)")
    return [dict(t) for t in tools]


def _turns(path: Path, where: str, turns: Any) -> list[str]:
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise _err(path, where, "turns must be a non-empty list of user messages")
    return list(turns)


def load_suite_file(path: Path) -> Suite:
    """Parse one suite YAML; errors name the file, the entry and the fix."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: suite file not found — list existing YAML files in eval.suites")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    stem = path.stem
    prompts = []
    for ctx, entries in (data.get("prompts") or {}).items():
        for i, e in enumerate(entries or []):
            where = f"prompts.{ctx}[{i}]"
            if isinstance(e, str):
                e = {"prompt": e}
            if not isinstance(e, dict) or not isinstance(e.get("prompt"), str):
                raise _err(path, where, "expected a string or {prompt: ..., tools: [...]}")
            tools = _tools(path, where, e.get("tools"))
            prompts.append(Item(f"{stem}/{ctx}/{i}", "prompt", [e["prompt"]], [ctx], tools))
    consistency = []
    for i, e in enumerate(data.get("consistency") or []):
        where = f"consistency[{i}]"
        turns = _turns(path, where, e.get("turns"))
        if not isinstance(e.get("context"), str):
            raise _err(path, where, "needs context: <name>")
        ctx = e["context"]
        consistency.append(
            Item(
                f"{stem}/consistency/{i}", "consistency", turns, [ctx] * len(turns), _tools(path, where, e.get("tools"))
            )
        )
    transitions = []
    for i, e in enumerate(data.get("transitions") or []):
        where = f"transitions[{i}]"
        turns = _turns(path, where, e.get("turns"))
        shift = e.get("shift_at")
        if not isinstance(shift, int) or not 0 < shift < len(turns):
            raise _err(path, where, f"shift_at must be a turn index between 1 and {len(turns) - 1}")
        if not isinstance(e.get("from"), str) or not isinstance(e.get("to"), str):
            raise _err(path, where, "needs from: <context> and to: <context>")
        ctxs = [e["from"]] * shift + [e["to"]] * (len(turns) - shift)
        transitions.append(
            Item(f"{stem}/transition/{i}", "transition", turns, ctxs, _tools(path, where, e.get("tools")), shift)
        )
    return Suite(prompts, consistency, transitions)


def load_suite(
    names: list[str],
    contexts: list[str] | None = None,
    prompts_per_context: int | None = None,
    consistency_dialogues: int | None = None,
    transition_dialogues: int | None = None,
    dialogues_per_kind: int | None = None,
) -> Suite:
    """Merge suite files, keep the listed contexts and take the first N of each kind (a fixed subset).

    `dialogues_per_kind` limits each kind of checked dialogue (DIALOGUE_KINDS) alike.
    """
    paths = [p for n in names for p in _suite_paths(n)]
    parts = [load_items_file(p) if p.suffix == ".jsonl" else load_suite_file(p) for p in paths]
    prompts = [p for s in parts for p in s.prompts]
    consistency = [d for s in parts for d in s.consistency]
    transitions = [d for s in parts for d in s.transitions]
    dialogues = [d for s in parts for d in s.dialogues]
    if contexts:
        keep = set(contexts)
        prompts = [p for p in prompts if p.contexts[0] in keep]
        consistency = [d for d in consistency if d.contexts[0] in keep]
        transitions = [d for d in transitions if set(d.contexts) <= keep]
        dialogues = [d for d in dialogues if set(d.contexts) <= keep]
    if prompts_per_context is not None:
        seen: dict[str, int] = {}
        kept = []
        for p in prompts:
            seen[p.contexts[0]] = seen.get(p.contexts[0], 0) + 1
            if seen[p.contexts[0]] <= prompts_per_context:
                kept.append(p)
        prompts = kept
    if consistency_dialogues is not None:
        consistency = consistency[:consistency_dialogues]
    if transition_dialogues is not None:
        transitions = transitions[:transition_dialogues]
    if dialogues_per_kind is not None:
        taken: dict[str, int] = {}
        kept = []
        for d in dialogues:
            taken[d.kind] = taken.get(d.kind, 0) + 1
            if taken[d.kind] <= dialogues_per_kind:
                kept.append(d)
        dialogues = kept
    return Suite(prompts, consistency, transitions, dialogues)
