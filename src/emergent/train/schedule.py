"""Steps and learning-rate schedule of one phase: warmup to the phase's peak, then cosine to zero."""

from __future__ import annotations

import math
from typing import Any


def phase_steps(rows: int, rows_per_step: int, epochs: float, max_steps: int | None) -> int:
    """Optimizer steps for `epochs` passes over `rows` packed rows (the last step wraps into the next pass)."""
    steps = max(1, math.ceil(epochs * rows / rows_per_step))
    return min(steps, max_steps) if max_steps else steps


def warmup_steps(warmup_ratio: float, total_steps: int) -> int:
    return math.ceil(warmup_ratio * total_steps)


def make_scheduler(kind: str, optimizer: Any, warmup_ratio: float, total_steps: int) -> Any:
    """transformers' schedules, so the shape matches what users know from Trainer/TRL."""
    from transformers import (
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    warmup = warmup_steps(warmup_ratio, total_steps)
    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)
    if kind == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
    return get_constant_schedule_with_warmup(optimizer, warmup)
