"""Config for curation (filters, dedup, categories, composition, curriculum phases)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
