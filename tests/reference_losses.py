"""Held-out losses the plain way, for tests: one conversation per forward through the HF model, then
cross-entropy on its assistant tokens. train/validation.py and evaluate/heldout.py must equal it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emergent.data.store import read_conversations
from emergent.lm.render import Example, encode


def encode_file(path: Path, tokenizer: Any, max_len: int = 192) -> tuple[list[Example], list[str]]:
    """The file's conversations tokenised as training does, in file order, with their buckets."""
    convs = list(read_conversations(path))
    return [encode(c, tokenizer, max_len) for c in convs], [c["_category"] for c in convs]


def plain_losses(model: torch.nn.Module, examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """(summed loss, loss-token count) per example, each scored alone."""
    sums, counts = [], []
    for ex in examples:
        ids = torch.tensor([ex.input_ids], device=next(model.parameters()).device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1]
        labels = torch.tensor(ex.labels[1:], device=ids.device)
        sums.append(F.cross_entropy(logits[labels].float(), ids[0, 1:][labels], reduction="sum").item())
        counts.append(int(labels.sum()))
    return np.array(sums), np.array(counts)
