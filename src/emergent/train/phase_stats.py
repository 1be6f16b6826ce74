"""A phase's running statistics: what a checkpoint carries across a resume and phase.json reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from emergent.config import Phase
from emergent.train.data import PhaseData


@dataclass
class PhaseStats:
    """Token counts, losses and time summed over a phase's steps (the ones before a resume included)."""

    tokens: int = 0
    loss_tokens: int = 0
    # None in a phase resumed from a checkpoint written before it existed: then the phase has no mean.
    loss_sum: float | None = 0.0
    loss_first: float | None = None
    loss_last: float | None = None
    seconds: float = 0.0

    @classmethod
    def from_checkpoint(cls, stats: dict[str, Any]) -> PhaseStats:
        return cls(**{"loss_sum": None, **stats})

    def to_checkpoint(self) -> dict[str, Any]:
        """The dict a checkpoint's state.json keeps under "stats"."""
        return asdict(self)

    def add_step(self, tokens: int, loss_tokens: int, loss_sum: float, seconds: float) -> float:
        """Count one optimizer step (`loss_sum`: summed over its loss-bearing tokens); returns its loss."""
        loss = loss_sum / max(loss_tokens, 1)
        self.tokens += tokens
        self.loss_tokens += loss_tokens
        if self.loss_sum is not None:
            self.loss_sum += loss_sum
        self.seconds += seconds
        self.loss_first = loss if self.loss_first is None else self.loss_first
        self.loss_last = loss
        return loss

    @property
    def loss_mean(self) -> float | None:
        """Per loss-bearing token over the whole phase: first and last are single steps, noisy at small batches."""
        return self.loss_sum / self.loss_tokens if self.loss_sum is not None and self.loss_tokens else None

    def summary(
        self, phase: Phase, data: PhaseData, steps: int, learning_rate: float, validation: dict | None
    ) -> dict[str, Any]:
        """phase.json's content (train_summary.json lists one per phase)."""
        return {
            "name": phase.name,
            "categories": phase.categories or sorted(data.categories),
            "learning_rate": learning_rate,
            "steps": steps,
            "examples": len(data.examples),
            "examples_by_category": data.categories,
            "rows": len(data.rows),
            "truncated": data.truncated,
            "dropped": data.dropped,
            "tokens": self.tokens,
            "loss_tokens": self.loss_tokens,
            "loss_first": self.loss_first,
            "loss_last": self.loss_last,
            "loss_mean": self.loss_mean,
            "seconds": round(self.seconds, 3),
            "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else None,
            "validation_loss": validation["loss"] if validation else None,
            "validation_by_category": validation["by_category"] if validation else None,
        }
