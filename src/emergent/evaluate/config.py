"""Config for evaluation (suite, generation, scoring, judge)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class DecodingConfig(BaseModel):
    """Identical for every context and for base and adapter, so the adapter explains any difference."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(96, ge=1)
    do_sample: bool = False  # greedy by default
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0)
    seed: int = 0


class EndpointConfig(BaseModel):
    """An OpenAI-compatible server (e.g. vLLM) to generate with instead of local transformers."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1; None = generate locally
    model: str = ""  # the served model name; for the adapter run, the served adapter's name
    adapter_model: str = ""
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this variable and never logged
    timeout_s: float = Field(120.0, gt=0)
    concurrency: int = Field(8, ge=1)


class JudgeConfig(BaseModel):
    """Optional LLM judge over an OpenAI-compatible API; off unless `enabled`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(60.0, gt=0)
    max_items: int = Field(64, ge=1)  # judged prompts per run (each costs 1 + 1 + 2 calls)
    concurrency: int = Field(4, ge=1)


class HeldoutConfig(BaseModel):
    """Base vs adapter loss on the build's held-out conversations (RUN/data/validation.parquet)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_examples: int | None = Field(None, ge=1)  # None: all; else taken per bucket in turn
    max_seq_len: int | None = Field(None, gt=8)  # None: training.max_seq_len (truncated as in training)
    batch_size: int = Field(4, ge=1)  # packed rows per forward


class EvalConfig(BaseModel):
    """What to ask the model, how to decode, how to score and how many resamples for the CIs."""

    model_config = ConfigDict(extra="forbid")

    suites: list[str] = Field(default_factory=lambda: ["default"])  # "default" = the shipped suite, else YAML paths
    contexts: list[str] = Field(
        default_factory=lambda: [
            "technical",
            "empathetic",
            "creative",
            "analytical",
            "tool_use",
            "ethical",
            "conversational",
            "factual",
            "instructional",  # checked items only (IFEval); the register scorer has no prototype for it
        ]
    )
    prompts_per_context: int | None = Field(None, ge=1)  # None = all of the suite
    consistency_dialogues: int | None = Field(None, ge=0)
    transition_dialogues: int | None = Field(None, ge=0)
    batch_size: int = Field(8, ge=1)
    decoding: DecodingConfig = Field(default_factory=DecodingConfig)
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig)
    prototypes: str = "default"  # "default" = shipped prototypes, else a .npz built by `emergent eval prototypes`
    bootstrap_samples: int = Field(1000, ge=100)
    contamination_ngram: int = Field(13, ge=4)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    heldout: HeldoutConfig = Field(default_factory=HeldoutConfig)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # auto: bf16 on GPUs that support it and CPUs with AVX512-BF16 or AMX, else fp32 (as training).
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"

    @field_validator("suites")
    @classmethod
    def _resolve_suites(cls, v: list[str], info: ValidationInfo) -> list[str]:
        base = (info.context or {}).get("base_dir")
        out = []
        for s in v:
            if s != "default" and base is not None and not Path(s).is_absolute():
                s = str((Path(base) / s).resolve())
            out.append(s)
        return out

    @field_validator("prototypes")
    @classmethod
    def _resolve_prototypes(cls, v: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base_dir")
        if v != "default" and base is not None and not Path(v).is_absolute():
            return str((Path(base) / v).resolve())
        return v
