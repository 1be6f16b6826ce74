"""Held-out loss, base vs adapter: the cross-entropy of each side on the build's validation set.

The validation conversations (RUN/data/validation.parquet) are in no phase file. Each is rendered
and masked exactly as in training and scored by both sides of the same loaded model (the adapter
switched off for the base), so the paired difference per conversation has little noise: it shows
whether the adapter learned something that carries over, per behavioural bucket, even where a
small training budget leaves the generated text unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from emergent.data.store import VALIDATION_FILE, read_conversations
from emergent.evaluate import metrics as M
from emergent.evaluate import stats
from emergent.lm.adapter import adapter_on
from emergent.lm.loss import PackedLoss
from emergent.lm.scoring import conversation_losses, encode_held_out, summarise


def heldout_loss(gen: Any, data_dir: Path, max_seq_len: int, max_examples: int | None, batch_size: int,
                 sides: list[str], n: int, seed: int) -> dict[str, Any] | None:  # fmt: skip
    """Per-token loss of each side, overall and per bucket, and adapter − base per conversation
    (mean of per-conversation mean losses, bootstrap ci95). None where there is no held-out set."""
    import torch

    path = Path(data_dir) / VALIDATION_FILE
    if not path.is_file():
        return None
    data = encode_held_out(read_conversations(path), gen.tokenizer, max_seq_len, max_examples)
    if data is None:
        return None
    began = time.time()
    pad_id = gen.tokenizer.pad_token_id or 0
    module = PackedLoss(gen.model)
    per_side: dict[str, np.ndarray] = {}
    counts = np.zeros(0)
    for side in sides:
        with adapter_on(gen.model, side == "adapter"):
            sums, counts = conversation_losses(module, data, batch_size, pad_id, torch.device(gen.device))
        per_side[side] = sums
    # Per-token losses of each side as training reports them (train/validation.summarise).
    per_token = {side: summarise(data, sums, counts) for side, sums in per_side.items()}
    out: dict[str, Any] = {
        "data": str(path),
        "examples": len(data.examples),
        "loss_tokens": int(counts.sum()),
        "dropped": data.dropped,
        "max_seq_len": max_seq_len,
    }
    for side, s in per_token.items():
        out[side] = {"loss": s["loss"]}
    mean = {side: sums / counts for side, sums in per_side.items()}  # per conversation, per token
    if "adapter" in mean:
        out["difference"] = M.bootstrap(mean["adapter"] - mean["base"], n, seed)
    cats = np.array(data.categories)
    by_category: dict[str, dict[str, Any]] = {}
    for cat in sorted(set(data.categories)):
        sel = cats == cat
        entry: dict[str, Any] = {"examples": int(sel.sum())}
        entry.update({side: s["by_category"][cat] for side, s in per_token.items()})
        if "adapter" in mean:
            entry["difference"] = M.bootstrap(mean["adapter"][sel] - mean["base"][sel], n, seed)
        by_category[cat] = entry
    if "adapter" in mean:  # one family: a bucket of 4 conversations or 1 of 10 lucky intervals is no verdict
        tests = []
        for cat, entry in by_category.items():
            sel = cats == cat
            t = stats.paired_bootstrap(mean["adapter"][sel] - mean["base"][sel], n, seed)
            t.update(metric="heldout_loss", context=cat, effect=-(t["mean"] or 0.0))  # lower loss is better
            entry["test"] = t
            tests.append(t)
        stats.verdicts(tests)
    out["by_category"] = by_category
    out["seconds"] = round(time.time() - began, 1)
    return out
