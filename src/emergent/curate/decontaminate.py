"""Decontamination: drop training records that share a word n-gram (default 13) with an eval prompt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from emergent.curate.steps import Filter, Verdict
from emergent.curate.text import dedup_text, normalise, words
from emergent.schema import Conversation

SUITES_DIR = Path(__file__).resolve().parents[1] / "evaluate" / "suites"
# A prompt shorter than this many words is too generic to call a match contamination.
MIN_PROMPT_WORDS = 8


def _strings(node: Any) -> Iterator[str]:
    """Every `prompt` string and every user turn found anywhere in a parsed YAML/JSON document."""
    if isinstance(node, dict):
        if node.get("role") == "user" and isinstance(node.get("content"), str):
            yield node["content"]
        for key, value in node.items():
            if key in ("prompt", "question", "instruction", "text") and isinstance(value, str):
                yield value
            else:
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def read_prompts(path: Path) -> list[str]:
    """Prompts from a .yaml/.json/.jsonl file (prompt/question/instruction/text keys, user turns) or .txt (one per line)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        return list(_strings(yaml.safe_load(text)))
    if path.suffix == ".json":
        return list(_strings(json.loads(text)))
    if path.suffix == ".jsonl":
        out: list[str] = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.extend(_strings(json.loads(line)))
                except ValueError:
                    raise ValueError(
                        f"{path}:{i}: not a JSON line — fix the file or list a .txt with one prompt per line"
                    ) from None
        return out
    return [ln for ln in text.splitlines() if ln.strip()]


def eval_prompts(use_suites: bool, files: list[Path]) -> tuple[list[str], list[str]]:
    """(prompts, the files they came from): the eval suites' prompts plus any listed files."""
    paths = sorted(SUITES_DIR.glob("*.yaml")) if use_suites and SUITES_DIR.is_dir() else []
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(
                f"curate.decontaminate.files: {f} not found — fix the path (relative to the config)"
            )
        paths.append(f)
    prompts = [p for path in paths for p in read_prompts(path)]
    return prompts, [str(p) for p in paths]


class Decontaminate(Filter):
    """A record sharing any n-gram with an eval prompt is dropped (`eval_overlap`).

    Prompts shorter than n words but at least MIN_PROMPT_WORDS long match as a whole phrase. Lookup
    is indexed by each n-gram's first two words; most records share no start with any prompt.
    """

    name = "decontaminate"

    def __init__(self, prompts: list[str], n: int = 13) -> None:
        self.n = n
        self.index: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        self.skipped_short = 0
        grams: set[tuple[str, ...]] = set()
        for prompt in prompts:
            toks = words(normalise(prompt))
            if len(toks) < min(n, MIN_PROMPT_WORDS):
                self.skipped_short += 1
                continue
            size = min(n, len(toks))
            grams.update(tuple(toks[i : i + size]) for i in range(len(toks) - size + 1))
        for g in sorted(grams):
            self.index.setdefault((g[0], g[1]), []).append(g)
        self.starts = frozenset(self.index)

    def __len__(self) -> int:
        return sum(len(v) for v in self.index.values())

    def keep(self, conv: Conversation) -> Verdict:
        toks = words(dedup_text(conv))
        # Set intersection runs in C; the positional check only runs for records sharing a start.
        hits = self.starts.intersection(zip(toks, toks[1:], strict=False))
        if not hits:
            return True
        index = self.index
        for i in range(len(toks) - 1):
            key = (toks[i], toks[i + 1])
            if key in hits:
                for g in index[key]:
                    if tuple(toks[i : i + len(g)]) == g:
                        return False, "eval_overlap"
        return True
