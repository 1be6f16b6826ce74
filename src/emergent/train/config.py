"""Config for the model, the LoRA adapter and curriculum training."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "smollm2-135m-instruct"
    trust_remote_code: bool = False


class PeftSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
