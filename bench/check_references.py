"""Score natural replies through the suite's text checks: a check that fails good replies is a bug too.

    python bench/check_references.py [--config configs/corpora.yaml] [--max-per-source 2000]

The controls (tests/evaluate/test_controls.py) show that templates cannot pass; this shows the other
side, on replies nobody wrote for the suite. For `both_sides` it reads:
- balanced replies: IBM Debater ArgQ and ArgKP (pro and con arguments) and the hand-written ethical
  replies of the register build set (src/emergent/evaluate/register/written_b.jsonl);
- replies that take no sides: ETHICS one-line verdicts, NQ-open short answers, GSM8K solutions;
- the committed proof generations (docs/proof/*, docs/proof-attempts/*), ethical items, per system.
Prints the pass rate of each population, beside the session-13 rule (a contrast word across two or more
sentences) as the baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from emergent.config import load_config
from emergent.data.ingest import IngestStream
from emergent.evaluate.checks.text import _CONTRAST, both_sides, words

ROOT = Path(__file__).resolve().parents[1]
BALANCED = ("ibm_debater_argq", "ibm_debater_argkp")
ONE_SIDED = ("ethics", "nq_open", "gsm8k")


def _source_replies(config: Path, names: tuple[str, ...], cap: int) -> dict[str, list[str]]:
    cfg = load_config(config)
    sources = [s for s in cfg.sources if s.name in names]
    replies: dict[str, list[str]] = defaultdict(list)
    for conv in IngestStream(sources, cfg.ingest, lambda q: None):
        if len(replies[conv["_source"]]) < cap:
            replies[conv["_source"]].append(conv["messages"][-1]["content"])
    return replies


def contrast_only(reply: str) -> bool:
    """The session-13 both_sides: a contrast word, and two or more sentences of 3+ words."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", reply.strip()) if len(words(s)) >= 3]
    return bool(_CONTRAST.search(reply)) and len(sentences) >= 2


def _rate(texts: list[str]) -> str:
    now = sum(both_sides(t).passed for t in texts)
    before = sum(contrast_only(t) for t in texts)
    n = max(len(texts), 1)
    return f"{now:5d}/{len(texts):<5d} = {now / n:.2f}   (contrast words only: {before / n:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "corpora.yaml")
    ap.add_argument("--max-per-source", type=int, default=2000)
    args = ap.parse_args()

    print("both_sides pass rate")
    for name, texts in _source_replies(args.config, BALANCED + ONE_SIDED, args.max_per_source).items():
        kind = "balanced" if name in BALANCED else "one-sided"
        print(f"  {kind:9s}  {name:20s} {_rate(texts)}")
    written = [json.loads(line) for line in open(ROOT / "src/emergent/evaluate/register/written_b.jsonl")]
    print(
        f"  {'written':9s}  {'ethical replies':20s} {_rate([r['reply'] for r in written if r['context'] == 'ethical'])}"
    )

    for path in sorted(ROOT.glob("docs/proof*/*/eval/generations.jsonl")):
        by_side: dict[str, list[str]] = defaultdict(list)
        for line in open(path):
            row = json.loads(line)
            if row["context"] == "ethical" and row["kind"] == "prompt":
                by_side[row["side"]].append(row["response"])
        run = path.parents[1].name
        for side, texts in sorted(by_side.items()):
            print(f"  {'proof':9s}  {run + ' ' + side:40s} {_rate(texts)}")


if __name__ == "__main__":
    sys.exit(main())
