"""Every metric of eval.json for the model-free controls, beside a real model's replies: a metric that a
control reaches is one that a model without the behaviour can reach (the brief's first principle).

The controls are the tests' (tests/evaluate/controls.py): a keyword router with seven fixed replies, echo
of the prompt, empty replies, one generic reply, and the suite's reference answers. They answer every
turn of every item of the full suite; `--generations` adds the sides of a real generations.jsonl
(e.g. a full-suite evaluation of base SmolLM2) scored through the same call.

    python bench/eval_controls.py [--generations runs/full16/eval/generations.jsonl] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "evaluate"))  # the controls live with the tests that assert on them

from controls import CONTROLS, POSITIVE, generations  # noqa: E402

from emergent.evaluate.run import read_generations, score_generations  # noqa: E402
from emergent.evaluate.scorer import StyleScorer  # noqa: E402
from emergent.evaluate.suite import load_suite  # noqa: E402

# (eval.json metric, key inside a side's entry, label, better)
HEADLINES = [
    ("primary", "mean", "appropriate-response rate (primary) ↑", "higher"),
    ("range", "fit", "register fit ↑", "higher"),
    ("consistency", "mean", "consistency (min over turns) ↑", "higher"),
    ("range", "mean", "context hit rate ↑", "higher"),
    ("collapse", "context_predictability", "context predictability ↑", "higher"),
    ("transitions", "mean", "transition: turns to switch ↓", "lower"),
    ("depth", "mean", "depth: Spearman(complexity, words) ↑", "higher"),
]


def figure(result: dict, metric: str, key: str, side: str) -> float | None:
    entry = (result.get(metric) or {}).get(side)
    if entry is None:
        return None
    value = entry if key == "mean" else entry.get(key)
    if isinstance(value, dict):  # {mean, ci95, n}
        value = value.get("mean")
    return None if value is None else float(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generations", type=Path, help="a generations.jsonl whose sides are scored beside the controls")
    ap.add_argument("--out", type=Path, help="write the table as JSON here")
    a = ap.parse_args()
    suite = load_suite(["default"])
    sides = {name: generations(suite.items, reply, name) for name, reply in {**CONTROLS, **POSITIVE}.items()}
    if a.generations:
        sides |= read_generations(a.generations)
    contexts = suite.contexts()
    result = score_generations(suite, sides, StyleScorer("default"), contexts, n=1000, seed=0)
    table = {label: {side: figure(result, metric, key, side) for side in sides} for metric, key, label, _ in HEADLINES}
    names = list(sides)
    print("| metric | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, row in table.items():
        cells = ["–" if row[s] is None else f"{row[s]:.3f}" for s in names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if a.out:
        a.out.write_text(json.dumps({"table": table, "result_keys": sorted(result)}, indent=1))


if __name__ == "__main__":
    main()
