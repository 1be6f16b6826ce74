"""Config for the LoRA adapter and curriculum training (values live in configs/*.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emergent.schema import normalize_category

# The seed's LoRA targets: every attention and MLP projection of a Llama-style block.
SEED_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class PeftSettings(BaseModel):
    """LoRA settings; written into adapter_config.json with standard peft field names only."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=32, gt=0)
    lora_alpha: int = Field(default=64, gt=0)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(SEED_TARGET_MODULES))
    bias: Literal["none", "all", "lora_only"] = "none"
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"


class ValidationSettings(BaseModel):
    """Validation loss on RUN/data/validation.parquet, conversations no phase trains on."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Besides before the first step and at the end of every phase: also every this many steps of a phase.
    every_steps: int | None = Field(default=None, gt=0)
    max_examples: int | None = Field(default=None, gt=0)  # None: the whole set; else taken per bucket in turn
    batch_size: int | None = Field(default=None, gt=0)  # rows per forward; None: training.batch_size


class ReplaySettings(BaseModel):
    """Self-distillation replay: the base model's own replies stand in for the corpus replies of a share of
    the conversations each phase trains on, so training keeps showing the model the behaviour it starts
    from (train/replay.py). The replies are generated once, greedy, before the phase, and cached."""

    model_config = ConfigDict(extra="forbid")

    # The share of each phase's trained conversations (of the replayed categories) that get the base reply.
    share: float = Field(gt=0.0, le=1.0)
    # Buckets whose conversations may be replayed; None: every bucket. Tool conversations never are.
    categories: list[str] | None = None
    # A reply that has not ended within this many tokens: cut after its last whole sentence (trim; refused
    # when that leaves less than half of it), or refused (drop). A reply that loops is refused. All counted.
    max_new_tokens: int = Field(default=256, gt=0)
    unended: Literal["trim", "drop"] = "trim"
    # Which reply of a multi-turn conversation the base model gives: the last (the earlier turns stay the
    # corpus's and still carry loss), or the first (the conversation is cut after it, so all of it is the
    # base model's; chat corpora with many turns per conversation replay a larger share of tokens this way).
    turn: Literal["last", "first"] = "last"
    batch_size: int = Field(default=8, gt=0)
    # Refuse a reply that speaks of itself as a program ("as a chatbot, I don't have the ability to access
    # personal data") or apologises for a loss, confusion or mistake the request never mentioned: 176 of the
    # 614 replies SmolLM2-135M gave to the proof's chat requests outside hh-rlhf, 54 % of the conversational
    # ones (bench/RESULTS.md, session 20). Replaying them teaches the dodge.
    refuse_boilerplate: bool = False
    # Sources (`_source`) whose conversations are never replayed: curated safe replies (hh-rlhf's chosen ones)
    # must not give way to the base model's, which go along with the harmful requests they answer.
    exclude_sources: list[str] = Field(default_factory=list)
    # A refused reply (a loop, boilerplate, an unended one under `drop`) is asked again up to this many times,
    # sampled at `retry_temperature` (top-p 0.95, a seed per attempt); the first usable one is trained on, else
    # the corpus reply stays. Sampling is what gets past a greedy dodge: 13 of 16 dodged chat requests had a
    # usable sampled reply at 0.8 (bench/RESULTS.md, session 20). 0: the greedy reply only.
    retries: int = Field(default=0, ge=0)
    retry_temperature: float = Field(default=0.8, gt=0)

    @field_validator("categories")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError(
                "replay.categories is empty, so nothing would be replayed — list buckets, or leave it out for all"
            )
        return v if v is None else [normalize_category(c) for c in v]


class TrainingConfig(BaseModel):
    """How the curriculum's phases (the run's `curriculum:` section) train: each its own warmup + cosine
    schedule, on one adapter carried through them."""

    model_config = ConfigDict(extra="forbid")

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
    # Loss on each conversation's last assistant turn only; the earlier turns are context (LLaMA-Factory's
    # mask_history). Every turn ends in an end-of-turn token, so a corpus of many short chat turns teaches
    # stopping early once per turn; this teaches it once per conversation. Validation loss stays on all turns.
    mask_history: bool = False
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
    # None: every phase trains on the corpus replies as they are.
    replay: ReplaySettings | None = None
    # Weight of KL(base model || adapter) on the trained tokens, added to their cross-entropy: it holds the
    # adapter's next-token distribution near the base model's wherever the data does not pull it away,
    # against forgetting what the base model already did well. Costs one more forward, without gradient
    # (the base model is the adapter switched off). One process or DDP. 0: plain fine-tuning.
    kl_to_base: float = Field(default=0.0, ge=0.0)

    @model_validator(mode="after")
    def _rate_is_used(self) -> TrainingConfig:
        if self.curriculum and self.no_curriculum_learning_rate is not None:
            raise ValueError(
                "no_curriculum_learning_rate is set but curriculum is true, so nothing would use it — set "
                "training.curriculum: false, or remove no_curriculum_learning_rate"
            )
        return self
