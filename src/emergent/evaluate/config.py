"""Config for evaluation (suite, generation, scoring, judge)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
