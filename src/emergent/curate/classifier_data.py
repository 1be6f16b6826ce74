"""Labelled examples for the category classifier, each label belonging to its example.

Three kinds, all as {text, label, source} dicts:
  hand-written   labels/handwritten.jsonl: requests written for this project, each with its
                 category, a one-line reason and a fixed train/test split (the test half is never
                 trained on or tuned against).
  mapped         a mixed corpus whose rows carry a field that decides the bucket (self-instruct's
                 `motivation_app`), through a reviewed mapping file (labels/self_instruct_apps.yaml).
  single-bucket  corpora whose every example has the source's category (configs/classifier.yaml),
                 capped per source so none dominates, each also seen as its request alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from emergent.schema import CATEGORIES, conversation_text

LABELS_DIR = Path(__file__).parent / "labels"
HANDWRITTEN = LABELS_DIR / "handwritten.jsonl"
SPLITS = ("train", "test")


def classifier_text(conv: dict[str, Any]) -> str:
    """What the classifier reads: the rendered conversation, plus one line naming the tools it was given.

    Tools offered to the model are evidence of tool use even before any call is made, and
    `conversation_text` leaves them out (it renders turns only).
    """
    text = conversation_text(conv)
    names = [t.get("function", t).get("name", "") for t in conv.get("tools") or [] if isinstance(t, dict)]
    if names:
        text = "tools: " + " ".join(n for n in names if n) + "\n" + text
    return text


def read_handwritten(path: str | Path = HANDWRITTEN, split: str | None = None) -> list[dict[str, str]]:
    """The hand-written labelled requests ({text, label, source, id, split}), optionally one split only."""
    path = Path(path)
    out: list[dict[str, str]] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            where = f"{path}:{n} ({row.get('id', '?')})"
            if row.get("category") not in CATEGORIES:
                raise ValueError(f"{where}: category {row.get('category')!r} is not one of {list(CATEGORIES)}")
            if row.get("split") not in SPLITS:
                raise ValueError(f"{where}: split {row.get('split')!r} must be 'train' or 'test'")
            if not str(row.get("reason", "")).strip():
                raise ValueError(f"{where}: every label needs a one-line `reason`")
            if split is None or row["split"] == split:
                text = classifier_text({"messages": row["messages"], "tools": row.get("tools")})
                out.append(
                    {
                        "text": text,
                        "label": row["category"],
                        "source": "handwritten",
                        "id": row["id"],
                        "split": row["split"],
                    }
                )
    return out


def read_mapping(path: str | Path) -> dict[str, str]:
    """{field value: category} from a reviewed mapping file; every row needs a category and a reason."""
    import yaml

    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for key, row in data.items():
        if not isinstance(row, dict) or row.get("category") not in CATEGORIES or not str(row.get("reason", "")).strip():
            raise ValueError(f"{path}: {key!r} needs {{category: one of {list(CATEGORIES)}, reason: why}}")
        out[str(key)] = row["category"]
    return out


def mapped_examples(source: Any, field: str, mapping: dict[str, str], where: str) -> list[dict[str, str]]:
    """A mixed corpus labelled row by row: `mapping[row[field]]`. A value missing from the mapping is an error."""
    from emergent.data.formats import get_format
    from emergent.data.readers import BadRow
    from emergent.errors import Reject

    fmt = get_format(source.format)
    out: list[dict[str, str]] = []
    for _, row in fmt.rows(source):
        if isinstance(row, BadRow):
            continue
        value = str(row.get(field, ""))
        if value not in mapping:
            raise ValueError(f"{where}: {source.name}: {field} {value!r} is not in the mapping file — add a row for it")
        try:
            conv = fmt.convert(row, source)
        except Reject:
            continue
        out.append({"text": classifier_text(conv), "label": mapping[value], "source": source.name})
    return out


def request_only(text: str) -> str:
    """The user turns of a rendered conversation (and its tools line), rendered the same way."""
    from emergent.curate.classifier import split_roles

    tools = text.split("\n", 1)[0] + "\n" if text.startswith("tools: ") else ""
    return tools + "user: " + split_roles(text, max_chars=10**9)[0]


def with_requests(examples: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Each example twice: the whole conversation, and its request alone (what users bring most)."""
    out: list[dict[str, str]] = []
    for e in examples:
        out.append(e)
        alone = request_only(e["text"])
        if alone != e["text"]:
            out.append({**e, "text": alone, "view": "request"})
    return out


def capped(examples: list[dict[str, str]], max_per_source: int, seed: int) -> list[dict[str, str]]:
    """At most `max_per_source` examples of each source, a seeded random choice kept in file order."""
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[dict[str, str]]] = {}
    for e in examples:
        by_source.setdefault(e["source"], []).append(e)
    out: list[dict[str, str]] = []
    for name in sorted(by_source):
        pool = by_source[name]
        picks = sorted(rng.permutation(len(pool))[:max_per_source])
        out.extend(pool[i] for i in picks)
    return out


def balanced_sample(examples: list[dict[str, str]], max_per_class: int, seed: int) -> list[dict[str, str]]:
    """At most `max_per_class` per category, shared as evenly as possible between its sources.

    Capping per source keeps one big corpus (ethics: 70k rows) from defining its bucket alone,
    which is how a classifier ends up learning a corpus's artefacts instead of the behaviour.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, dict[str, list[dict[str, str]]]] = {}
    for ex in examples:
        by_class.setdefault(ex["label"], {}).setdefault(ex["source"], []).append(ex)
    chosen: list[dict[str, str]] = []
    for label in sorted(by_class):
        sources = by_class[label]
        budget = max_per_class
        # Smallest sources first: what they cannot fill goes to the bigger ones.
        order = sorted(sources, key=lambda s: (len(sources[s]), s))
        for k, name in enumerate(order):
            quota = budget // (len(order) - k)
            pool = sources[name]
            take = min(quota, len(pool))
            picks = rng.permutation(len(pool))[:take]
            chosen.extend(pool[i] for i in sorted(picks))
            budget -= take
    return chosen


def stratified_split(examples: list[dict[str, str]], fraction: float, seed: int) -> tuple[list, list]:
    """(train, held_out) with `fraction` of every category held out."""
    rng = np.random.default_rng(seed)
    train: list[dict[str, str]] = []
    held: list[dict[str, str]] = []
    by_class: dict[str, list[dict[str, str]]] = {}
    for ex in examples:
        by_class.setdefault(ex["label"], []).append(ex)
    for label in sorted(by_class):
        pool = by_class[label]
        order = rng.permutation(len(pool))
        n_held = max(1, round(len(pool) * fraction))
        held.extend(pool[i] for i in order[:n_held])
        train.extend(pool[i] for i in order[n_held:])
    return train, held
