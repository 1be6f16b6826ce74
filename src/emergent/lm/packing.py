"""Packing tokenised conversations into rows with attention isolation, and turning rows into tensors.

Isolation: every conversation in a row gets position ids that restart at 0 and the model is called
with `attention_mask=None` and no cache; transformers then derives the per-document causal mask from
the restarts (masking_utils.find_packed_sequence_indices), so no token attends across conversations.
Targets are shifted inside each conversation, so the last token of one never predicts the first of
the next. The same holds for pad tokens: they form their own "document" and carry no target.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Any

import torch

from emergent.lm.render import Example

IGNORE = -100


def pack(lengths: Sequence[int], max_len: int) -> list[list[int]]:
    """Best-fit decreasing: groups of example indices whose lengths sum to at most `max_len`.

    Deterministic for a given input order (ties keep input order); O(n log n) bin lookup.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (space left, bin index), sorted
    for i in order:
        n = lengths[i]
        if n > max_len:
            raise ValueError(f"example {i} has {n} tokens > max_len {max_len}; truncate or drop it before packing")
        j = bisect.bisect_left(free, (n, -1))
        if j < len(free):
            space, b = free.pop(j)
            bins[b].append(i)
            bisect.insort(free, (space - n, b))
        else:
            bins.append([i])
            bisect.insort(free, (max_len - n, len(bins) - 1))
    return bins


def one_per_row(count: int) -> list[list[int]]:
    """No packing: each example alone in its row (padded per micro-batch)."""
    return [[i] for i in range(count)]


def row_tensors(examples: Sequence[Example], pad_id: int) -> tuple[list[int], list[int], list[int]]:
    """input ids, position ids and shifted targets of one packed row (unpadded)."""
    ids: list[int] = []
    pos: list[int] = []
    tgt: list[int] = []
    for ex in examples:
        n = len(ex.input_ids)
        ids.extend(ex.input_ids)
        pos.extend(range(n))
        tgt.extend(ex.input_ids[t + 1] if ex.labels[t + 1] else IGNORE for t in range(n - 1))
        tgt.append(IGNORE)
    return ids, pos, tgt


def loss_inputs(batch: dict[str, Any], device: torch.device) -> tuple:
    """A collated micro-batch as PackedLoss's positional arguments, tensors on `device`."""
    return (
        batch["input_ids"].to(device),
        batch["position_ids"].to(device),
        batch["targets"].to(device),
        batch["cu_seqlens"].to(device),
        batch["max_seqlen"],
    )


def collate(rows: Sequence[Sequence[Example]], pad_id: int, flat: bool = False) -> dict[str, Any]:
    """A micro-batch: rows padded to the longest; pads restart positions and carry no target.

    `cu_seqlens` / `max_seqlen` describe the same boundaries for varlen attention over the flattened
    [rows * width] stream (each row's padding is one more sequence of its own).
    `flat`: the rows' conversations back to back in one row of their total length, with no padding at
    all ("padding-free"). For varlen attention only, which takes the boundaries from `cu_seqlens`: it
    costs the same per conversation whatever the row, while the pads of unevenly filled rows were
    computed through every layer (6 % of the tokens in the CPU benchmark's micro-batches).
    """
    if flat:
        rows = [[ex for row in rows for ex in row]]
    built = [row_tensors(r, pad_id) for r in rows]
    width = max(len(b[0]) for b in built)
    ids = torch.full((len(built), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(built), width), dtype=torch.long)
    tgt = torch.full((len(built), width), IGNORE, dtype=torch.long)
    real = 0
    lengths: list[int] = []
    for i, (row_ids, row_pos, row_tgt) in enumerate(built):
        n = len(row_ids)
        real += n
        lengths.extend(len(ex.input_ids) for ex in rows[i])
        if width > n:
            lengths.append(width - n)
        ids[i, :n] = torch.tensor(row_ids)
        pos[i, :n] = torch.tensor(row_pos)
        pos[i, n:] = torch.arange(width - n)
        tgt[i, :n] = torch.tensor(row_tgt)
    cu_seqlens = torch.tensor([0, *itertools.accumulate(lengths)], dtype=torch.int32)
    return {
        "input_ids": ids,
        "position_ids": pos,
        "targets": tgt,
        "real_tokens": torch.tensor(real),
        "cu_seqlens": cu_seqlens,
        "max_seqlen": max(lengths),
    }
