"""Config for evaluation (suite, generation, scoring, judge)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from emergent.lm.config import DecodingConfig


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
    # Judged items per run, sampled (seeded by the run's seed) evenly over the strata context x kind (single
    # prompt or dialogue); each costs 1 + 1 rubric calls and 2 pairwise calls (both orders).
    max_items: int = Field(64, ge=1)
    concurrency: int = Field(4, ge=1)
    # The judge's own answer: room for a short reason, then the verdict line (the last one counts).
    max_tokens: int = Field(128, ge=1)
    # The two sides compared (names from eval.sides): the win rate is that of the first over the second.
    pair: list[str] = Field(default_factory=lambda: ["adapter", "base"], min_length=2, max_length=2)

    @field_validator("pair")
    @classmethod
    def _two_sides(cls, v: list[str]) -> list[str]:
        if v[0] == v[1]:
            raise ValueError(f"eval.judge.pair compares a side with itself: {v} — name two sides, e.g. [adapter, base]")
        return v


class HeldoutConfig(BaseModel):
    """Base vs adapter loss on the build's held-out conversations (RUN/data/validation.parquet)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_examples: int | None = Field(None, ge=1)  # None: all; else taken per bucket in turn
    max_seq_len: int | None = Field(None, gt=8)  # None: training.max_seq_len (truncated as in training)
    batch_size: int = Field(4, ge=1)  # packed rows per forward


Side = Literal["base", "prompted", "adapter", "no_history"]
PROMPTED_SYSTEM_PROMPT = (
    "Adapt your tone and form to each request: precise and exact for code and technical questions, warm "
    "and supportive when someone is struggling, imaginative for stories and poems, a structured function "
    "call when tools are offered and fit the request, careful and balanced on ethical questions, concise "
    "for factual questions, and natural in casual conversation."
)


class PromptedConfig(BaseModel):
    """The `prompted` side: the base model told to adapt its register (the strongest no-training alternative)."""

    model_config = ConfigDict(extra="forbid")

    system_prompt: str = Field(PROMPTED_SYSTEM_PROMPT, min_length=1)


class EvalConfig(BaseModel):
    """What to ask the model, how to decode, how to score and how many resamples for the CIs."""

    model_config = ConfigDict(extra="forbid")

    suites: list[str] = Field(default_factory=lambda: ["default"])  # "default" = the shipped suite, else YAML paths
    # Which generations are compared, on the same items: base, prompted (base + eval.prompted.system_prompt),
    # adapter (left out when there is none). Base is always generated: every difference is taken against it.
    # no_history: the checked dialogues answered turn by turn without the conversation, by the base model
    # (side no_history) and by the adapter (adapter_no_history): the control the dialogue checks must beat.
    sides: list[Side] = Field(default_factory=lambda: ["base", "adapter"], min_length=1)
    prompted: PromptedConfig = Field(default_factory=PromptedConfig)
    # A side's generations are kept here, keyed by everything that decides them (model weights, adapter
    # weights, system prompt, items, decoding, precision, batch size): an interrupted or repeated evaluation
    # and the runs of one study reuse them instead of generating again. None: RUN/cache/generations.
    generation_cache: str | None = None
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
    dialogues_per_kind: int | None = Field(None, ge=0)  # checked dialogues (memory, retest, ...): first N of each kind
    # Prompts decoded together. 16: the full suite in 29 min 39 s on a 2-core CPU against 33 min 16 s at 8
    # (bench/RESULTS.md, session 18); 32 was slower there (a batch decodes until its longest reply ends).
    batch_size: int = Field(16, ge=1)
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

    @field_validator("sides")
    @classmethod
    def _base_first(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"eval.sides lists a side twice: {v}")
        return ["base"] + [s for s in v if s != "base"]

    @field_validator("generation_cache")
    @classmethod
    def _resolve_cache(cls, v: str | None, info: ValidationInfo) -> str | None:
        base = (info.context or {}).get("base_dir")
        if v is not None and base is not None and not Path(v).is_absolute():
            return str((Path(base) / v).resolve())
        return v

    @field_validator("prototypes")
    @classmethod
    def _resolve_prototypes(cls, v: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base_dir")
        if v != "default" and base is not None and not Path(v).is_absolute():
            return str((Path(base) / v).resolve())
        return v


SUITE_LIMITS = ("prompts_per_context", "consistency_dialogues", "transition_dialogues", "dialogues_per_kind")


def suite_limits(ec: EvalConfig) -> dict[str, int | None]:
    """The settings that take a fixed subset of the suite (first N per context / per dialogue kind)."""
    return {k: getattr(ec, k) for k in SUITE_LIMITS}


def full_suite(ec: EvalConfig) -> EvalConfig:
    """The same evaluation on every item of the suite (`emergent eval CONFIG --full`)."""
    return ec.model_copy(update=dict.fromkeys(suite_limits(ec)))
