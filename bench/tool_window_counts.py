"""Tool-use records of a shipped config at a training window: what a build keeps, in which shape, and
how many kept records would still train no token, counted exactly with SmolLM2's tokenizer.

    python bench/tool_window_counts.py corpora.yaml 2048      # or: corpora.yaml 512, quickstart.yaml 512

Only the tool sources (bfcl, sgd, apibench) are built, with decontamination and bucket caps off, so
the figures show what the training window (curate/window.py) does and nothing else.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a file under configs/, e.g. corpora.yaml")
    parser.add_argument("max_seq_len", type=int)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from transformers import AutoTokenizer

    from emergent.config import load_config
    from emergent.curate.build import build
    from emergent.data.store import read_conversations
    from emergent.lm.render import encode

    tok = AutoTokenizer.from_pretrained(ROOT / "tests" / "fixtures" / "smollm2-tokenizer")
    cfg = load_config(ROOT / "configs" / args.config)
    cfg.sources = [s for s in cfg.sources if s.name in ("bfcl", "sgd", "apibench")]
    cfg.training.max_seq_len = args.max_seq_len
    cfg.curate.decontaminate.enabled = False  # the suite differs between versions; not what is measured
    cfg.curate.workers = 0  # in-process: this script is not import-safe for worker processes
    cfg.curate.max_bucket_share = 1.0
    cfg.curate.caps.categories_from_targets = False
    out = Path(tempfile.mkdtemp()) / "out"
    manifest = build(cfg, out, show_progress=False)
    shapes, zero = Counter(), Counter()
    for conv in read_conversations(out / "conversations"):
        calls = any(m.get("tool_calls") for m in conv["messages"])
        results = any(m["role"] == "tool" for m in conv["messages"])
        shapes[(conv["_source"], ("with_results" if results else "call_only") if calls else "no_call")] += 1
        zero[conv["_source"]] += encode(conv, tok, args.max_seq_len).loss_tokens == 0
    report = {
        "config": args.config,
        "max_seq_len": args.max_seq_len,
        "output_by_source_and_shape": {f"{s}/{k}": n for (s, k), n in sorted(shapes.items())},
        "output_training_zero_tokens_exact": dict(zero),
        "composition": {b: c["count"] for b, c in manifest["composition"].items() if c["count"]},
        "reasons": manifest["reasons"],
        "window": manifest.get("window", {}).get("sources"),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
