"""Scoring held-out conversations: per-conversation summed loss over assistant tokens, as training computes it.

Training validation (train/validation.py) and the evaluation's held-out loss (evaluate/heldout.py) both
score the build's validation set through these functions, so the two numbers are the same measurement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from emergent.lm.packing import collate, loss_inputs, one_per_row, pack
from emergent.lm.render import Example, encode


@dataclass
class ValidationSet:
    """Tokenised held-out conversations, their buckets, and rows of example indices."""

    examples: list[Example]
    categories: list[str]
    rows: list[list[int]]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def loss_tokens(self) -> int:
        return sum(e.loss_tokens for e in self.examples)


def encode_held_out(
    conversations: Iterable[dict],
    tokenizer: Any,
    max_seq_len: int,
    max_examples: int | None = None,
    packing: bool = True,
) -> ValidationSet | None:
    """Held-out conversations ready to score, or None where there are none.

    Long conversations are truncated as in training; one with no assistant token left is counted and
    left out. With `max_examples` the first ones are taken per bucket in turn, so every bucket stays.
    """
    by_category: dict[str, list[dict]] = {}
    for conv in conversations:
        by_category.setdefault(conv.get("_category") or "uncategorised", []).append(conv)
    convs = _round_robin(by_category, max_examples)
    examples, categories = [], []
    dropped: Counter[str] = Counter()
    for conv in convs:
        ex = encode(conv, tokenizer, max_seq_len)
        if ex.loss_tokens == 0:
            dropped["no_assistant_tokens_within_max_seq_len"] += 1
            continue
        examples.append(ex)
        categories.append(conv.get("_category") or "uncategorised")
    if not examples:
        return None
    # Rows never mix buckets: a short bucket still fills rows of its own, and the packing is the
    # same whichever process scores them.
    rows: list[list[int]] = []
    for cat in sorted(set(categories)):
        members = [i for i, c in enumerate(categories) if c == cat]
        lengths = [len(examples[i].input_ids) for i in members]
        rows += [
            [members[j] for j in row] for row in (pack(lengths, max_seq_len) if packing else one_per_row(len(members)))
        ]
    return ValidationSet(examples, categories, rows, dict(dropped))


def _round_robin(by_category: dict[str, list[dict]], limit: int | None) -> list[dict]:
    if limit is None:
        return [c for cat in sorted(by_category) for c in by_category[cat]]
    out: list[dict] = []
    queues = [list(by_category[cat]) for cat in sorted(by_category)]
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


@torch.no_grad()
def conversation_losses(
    loss_module: torch.nn.Module,
    data: ValidationSet,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    flat: bool = False,
    rank: int = 0,
    world: int = 1,
    reduce: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(summed loss, loss-token count) per conversation of `data`.

    `loss_module` is a `PackedLoss` (or what `accelerate.prepare` made of it). With several processes
    each scores its share of the micro-batches and `reduce` (a sum over processes) completes the
    vectors; every process runs the same number of forwards, because FSDP and ZeRO-3 gather weights
    inside each forward and a process that stopped early would leave the others waiting.
    """
    n = len(data.examples)
    sums = torch.zeros(n, dtype=torch.float64, device=device)
    counts = torch.zeros(n, dtype=torch.float64, device=device)
    batches = [data.rows[i : i + batch_size] for i in range(0, len(data.rows), batch_size)]
    calls = -(-len(batches) // world)
    was_training = loss_module.training
    loss_module.eval()  # no dropout
    try:
        for c in range(calls):
            b = c * world + rank
            mine = b < len(batches)
            rows = batches[b] if mine else batches[0]  # a repeated batch whose result is not used
            order = [i for row in rows for i in row]  # the loss tokens come in this order
            batch = collate([[data.examples[i] for i in row] for row in rows], pad_id, flat=flat)
            segments = torch.repeat_interleave(
                torch.arange(len(order)), torch.tensor([data.examples[i].loss_tokens for i in order])
            )
            part, tokens = loss_module(*loss_inputs(batch, device), segments=segments.to(device), n_segments=len(order))
            if mine:
                idx = torch.tensor(order, device=device)
                sums[idx] += part.double()
                counts[idx] += tokens.double()
    finally:
        loss_module.train(was_training)
    if reduce is not None:
        sums, counts = reduce(sums), reduce(counts)
    return sums.cpu().numpy(), counts.cpu().numpy()


def summarise(data: ValidationSet, sums: np.ndarray, counts: np.ndarray) -> dict:
    """Per-token loss of the whole set and of each bucket."""
    cats = np.array(data.categories)
    by_category = {
        cat: round(float(sums[cats == cat].sum() / counts[cats == cat].sum()), 6)
        for cat in sorted(set(data.categories))
    }
    return {
        "loss": round(float(sums.sum() / counts.sum()), 6),
        "by_category": by_category,
        "examples": len(data.examples),
        "loss_tokens": int(counts.sum()),
    }
