"""How far a trained adapter is from its base model on held-out text: cross-entropy and KL(base || adapter)
per loss token, overall and per bucket, teacher-forced (the quantity `training.kl_to_base` penalises).

    python bench/adapter_kl.py ADAPTER_DIR --data RUN/data/validation.parquet [--examples 40] [--model NAME]

Used to size `training.kl_to_base` against the cross-entropy gain the adapter bought (bench/RESULTS.md,
session 19). Conversations one at a time, fp32, one thread: a measurement, not a timing.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoTokenizer

from emergent.data.store import read_conversations
from emergent.lm.config import ModelConfig
from emergent.lm.loading import load_model
from emergent.lm.loss import PackedLoss
from emergent.lm.packing import IGNORE, collate
from emergent.lm.registry import resolve_model_path
from emergent.lm.render import encode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("adapter", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="a validation.parquet (or any conversation file)")
    ap.add_argument("--examples", type=int, default=40)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--max-seq-len", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(1)
    path = resolve_model_path(args.model)
    tok = AutoTokenizer.from_pretrained(path)
    model = PeftModel.from_pretrained(load_model(ModelConfig(name=str(path)), "fp32"), args.adapter).eval()
    loss = PackedLoss(model, kl_to_base=1.0)
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])  # bucket -> [ce, kl, tokens]
    convs = read_conversations(args.data)
    with torch.no_grad():
        for _, conv in zip(range(args.examples), convs, strict=False):
            batch = collate([[encode(conv, tok, args.max_seq_len)]], tok.pad_token_id)
            loss(**{k: batch[k] for k in ("input_ids", "position_ids", "targets")})
            ce, kl = (float(x) for x in loss.last_parts)
            for key in ("all", conv.get("_category") or "unknown"):
                s = sums[key]
                s[0], s[1], s[2] = s[0] + ce, s[1] + kl, s[2] + int((batch["targets"] != IGNORE).sum())
    print(f"{'bucket':<16}{'tokens':>8}{'CE/token':>10}{'KL/token':>10}")
    for key in ["all", *sorted(k for k in sums if k != "all")]:
        ce, kl, n = sums[key]
        print(f"{key:<16}{n:>8}{ce / max(n, 1):>10.3f}{kl / max(n, 1):>10.3f}")


if __name__ == "__main__":
    main()
