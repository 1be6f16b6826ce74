"""Assistant replies per context to build the register scorer's prototypes from: the hand-written build
set shipped in evaluate/register/ (the default), or the assistant side of a built data folder."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

from emergent.evaluate.config import EvalConfig


def assistant_text(message: dict) -> str:
    """What the assistant said, tool calls included as {"name", "arguments"} JSON."""
    parts = [message.get("content") or ""]
    for c in message.get("tool_calls") or []:
        try:
            args = json.loads(c["function"]["arguments"])
        except (TypeError, ValueError, KeyError):
            args = {}
        parts.append(json.dumps({"name": c["function"]["name"], "arguments": args}, ensure_ascii=False))
    return "\n".join(p for p in parts if p).strip()


def texts_from_data(data: Path, per_context: int = 600, seed: int = 0) -> dict[str, list[str]]:
    """{context: up to `per_context` assistant replies} for the suite's contexts (reservoir-sampled)."""
    from emergent.data.store import read_conversations

    if not Path(data).exists():
        raise FileNotFoundError(f"{data}: no data folder — run `emergent data build CONFIG` first")
    contexts = set(EvalConfig().contexts)
    rng = random.Random(seed)
    seen: dict[str, int] = {}
    out: dict[str, list[str]] = {c: [] for c in sorted(contexts)}
    for conv in read_conversations(Path(data)):
        ctx = conv.get("_category")
        if ctx not in contexts:
            continue
        for m in conv["messages"]:
            if m["role"] != "assistant":
                continue
            text = assistant_text(m)
            if not text:
                continue
            seen[ctx] = seen.get(ctx, 0) + 1
            if len(out[ctx]) < per_context:
                out[ctx].append(text)
            else:
                j = rng.randrange(seen[ctx])
                if j < per_context:
                    out[ctx][j] = text
    if sum(1 for v in out.values() if len(v) >= 4) < 2:
        raise ValueError(
            f"{data}: fewer than 2 suite contexts with 4+ assistant replies — is it a curated data folder?"
        )
    return out


WRITTEN_FILES = ("written_a.jsonl", "written_b.jsonl", "written_c.jsonl")


def written_replies() -> list[dict]:
    """The hand-written build set: {id, context, request, reply, note} rows, written for this project.

    None of it comes from a corpus, so the scorer built from it has never seen the replies of any corpus a
    config trains on, nor the suite's: every validation on those is out of source (bench/register/).
    """
    folder = resources.files("emergent.evaluate").joinpath("register")
    rows = []
    for name in WRITTEN_FILES:
        with folder.joinpath(name).open(encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def texts_from_written() -> dict[str, list[str]]:
    """{context: replies} of the hand-written build set."""
    out: dict[str, list[str]] = {}
    for r in written_replies():
        out.setdefault(r["context"], []).append(r["reply"])
    return out
