"""Config for the model, the LoRA adapter and curriculum training (values live in configs/*.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from emergent.schema import normalize_category

# The seed's LoRA targets: every attention and MLP projection of a Llama-style block.
SEED_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ModelConfig(BaseModel):
    """The base model: the embedded default, a local folder or a Hugging Face hub id."""

    model_config = ConfigDict(extra="forbid")

    name: str = "smollm2-135m-instruct"
    trust_remote_code: bool = False
    # auto: "varlen" (emergent/train/attention.py: the flash varlen kernel over packed rows on CUDA,
    # per-conversation bmm attention on CPU), else "sdpa", which isolates packed sequences through a
    # per-document mask (see findings.md). Any transformers name (eager, flex_attention, ...) passes through.
    attn_implementation: str = "auto"
    gradient_checkpointing: bool = False
    # None: the tokenizer's own template. "chatml" (built in, for base models without one) or a Jinja
    # file, relative to the config file (train/templates.py).
    chat_template: str | None = None

    @field_validator("chat_template")
    @classmethod
    def _resolve_template(cls, v: str | None, info: ValidationInfo) -> str | None:
        from emergent.train.templates import BUILT_IN

        if v is None or v in BUILT_IN:
            return v
        base = (info.context or {}).get("base_dir")
        path = Path(v) if Path(v).is_absolute() or base is None else (Path(base) / v).resolve()
        if not path.is_file():
            raise ValueError(f"{v!r} is neither a built-in template ({', '.join(BUILT_IN)}) nor a Jinja file")
        return str(path)


class PeftSettings(BaseModel):
    """LoRA settings; written into adapter_config.json with standard peft field names only."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=32, gt=0)
    lora_alpha: int = Field(default=64, gt=0)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(SEED_TARGET_MODULES))
    bias: Literal["none", "all", "lora_only"] = "none"
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"


class PhaseConfig(BaseModel):
    """One curriculum phase: its data file (RUN/data/phases/<name>.parquet) and its own schedule."""

    model_config = ConfigDict(extra="forbid")

    name: str
    learning_rate: float = Field(gt=0)
    categories: list[str] = Field(default_factory=list)  # informational: what the curate stage put in
    epochs: float | None = Field(default=None, gt=0)  # None: training.epochs_per_phase
    max_steps: int | None = Field(default=None, gt=0)  # None: training.max_steps_per_phase
    max_examples: int | None = Field(default=None, gt=0)  # None: training.max_examples_per_phase

    @model_validator(mode="after")
    def _known_categories(self) -> PhaseConfig:
        self.categories = [c if c == "all" else normalize_category(c) for c in self.categories]
        return self


def _seed_phases() -> list[PhaseConfig]:
    first = ["technical", "factual", "tool_use", "instructional"]
    return [
        PhaseConfig(name="phase1_foundation", learning_rate=2e-5, categories=first),
        PhaseConfig(
            name="phase2_analytical", learning_rate=1.5e-5, categories=["analytical", "ethical", "specialized"]
        ),
        PhaseConfig(
            name="phase3_empathic_creative", learning_rate=1e-5, categories=["empathetic", "creative", "conversational"]
        ),
        PhaseConfig(name="phase4_mixed", learning_rate=5e-6, categories=["all"]),
        PhaseConfig(name="phase5_fine_tuning", learning_rate=3e-6, categories=["all"]),
    ]


class ValidationSettings(BaseModel):
    """Validation loss on RUN/data/validation.parquet, conversations no phase trains on."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Besides before the first step and at the end of every phase: also every this many steps of a phase.
    every_steps: int | None = Field(default=None, gt=0)
    max_examples: int | None = Field(default=None, gt=0)  # None: the whole set; else taken per bucket in turn
    batch_size: int | None = Field(default=None, gt=0)  # rows per forward; None: training.batch_size


class TrainingConfig(BaseModel):
    """The curriculum: phases in order, each with its own warmup + cosine schedule on one adapter."""

    model_config = ConfigDict(extra="forbid")

    phases: list[PhaseConfig] = Field(default_factory=_seed_phases)
    batch_size: int = Field(default=4, gt=0)  # sequences per device per micro-batch
    gradient_accumulation: int = Field(default=8, gt=0)
    optimizer: Literal["adamw"] = "adamw"
    weight_decay: float = Field(default=0.0, ge=0.0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_epsilon: float = Field(default=1e-8, gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    # auto: bf16 on GPUs that support it and CPUs with AVX512-BF16 or AMX, else fp32. bf16 asked where
    # unsupported falls back with a warning.
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    epochs_per_phase: float = Field(default=1.0, gt=0)
    max_seq_len: int = Field(default=2048, gt=8)
    max_steps_per_phase: int | None = Field(default=None, gt=0)
    max_examples_per_phase: int | None = Field(default=None, gt=0)
    packing: bool = True
    # torch.compile each decoder layer (fuses norms, rotary, activations, LoRA); costs a compile at start.
    compile: bool = False
    # Longer conversations are cut at max_seq_len (truncate) or left out (drop); both are counted.
    overlong: Literal["truncate", "drop"] = "truncate"
    checkpoint_every_steps: int = Field(default=50, gt=0)
    keep_checkpoints: int = Field(default=2, gt=0)
    log_every_steps: int = Field(default=1, gt=0)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    report_to: list[Literal["tensorboard", "wandb"]] = Field(default_factory=list)
    seed: int | None = None  # None: the run's top-level seed
    # Multiplies every phase's learning_rate, keeping their ratios (a learning-rate sweep without
    # rewriting the phase list).
    lr_scale: float = Field(default=1.0, gt=0)
    # False: the control run — every conversation the phases train on, once, shuffled into one phase,
    # trained for as many optimizer steps as the curriculum would take, on one warmup + cosine schedule.
    curriculum: bool = True
    # The peak rate of that one schedule (used as given, lr_scale does not apply); None: the
    # curriculum's rates (after lr_scale) averaged with each phase weighted by its steps.
    no_curriculum_learning_rate: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _unique_phase_names(self) -> TrainingConfig:
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"phase {dupes[0]!r} is listed twice — give each phase a unique name")
        if not self.phases:
            raise ValueError("no phases — list at least one phase with a name and a learning_rate")
        if self.curriculum and self.no_curriculum_learning_rate is not None:
            raise ValueError(
                "no_curriculum_learning_rate is set but curriculum is true, so nothing would use it — set "
                "training.curriculum: false, or remove no_curriculum_learning_rate"
            )
        return self

    def scaled_phases(self) -> list[PhaseConfig]:
        """The phases at the rates they train at: each learning_rate times lr_scale."""
        return [p.model_copy(update={"learning_rate": p.learning_rate * self.lr_scale}) for p in self.phases]
