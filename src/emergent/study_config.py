"""The `study:` section: several trainings (variants x seeds) on one data build, evaluated on the same items.

A variant changes settings that leave the data build alone (training, peft, model, eval) with dotted
keys, e.g. `{name: shuffled, set: {training.curriculum: false}}`; every variant trains once per seed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What a variant may change: anything the shared data build does not read.
VARIANT_SECTIONS = ("training", "peft", "model", "eval")


class VariantConfig(BaseModel):
    """One way to train: a name and the settings it changes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")  # a folder name: RUN/runs/<name>-seed<k>
    set: dict[str, Any] = Field(default_factory=dict)  # dotted config keys -> values
    seeds: list[int] | None = None  # default: study.seeds

    @field_validator("set")
    @classmethod
    def _only_training_side_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in v if k.split(".")[0] not in VARIANT_SECTIONS or "." not in k]
        if bad:
            raise ValueError(
                f"set: {bad} — a variant may change only {', '.join(s + '.*' for s in VARIANT_SECTIONS)} "
                "(the variants share one data build); put other changes in a config of their own"
            )
        return v


class StudyConfig(BaseModel):
    """Variants x seeds, one shared data build and generation cache, then `emergent compare` over them."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    variants: list[VariantConfig] = Field(min_length=1)
    reference: str = "base"  # the compare table's reference: a side (base, prompted) or a variant name

    @model_validator(mode="after")
    def _unique(self) -> StudyConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"study.variants: a name is used twice in {names}")
        for seeds in [self.seeds] + [v.seeds for v in self.variants if v.seeds is not None]:
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"study: seeds {seeds} repeat a seed")
        return self
