"""Config for the base model: which one, how to load it, which chat template renders it (values live in configs/*.yaml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from emergent.lm.chat_template import BUILT_IN


class ModelConfig(BaseModel):
    """The base model: the embedded default, a local folder or a Hugging Face hub id."""

    model_config = ConfigDict(extra="forbid")

    name: str = "smollm2-135m-instruct"
    trust_remote_code: bool = False
    # auto: "varlen" (emergent/lm/attention.py: the flash varlen kernel over packed rows on CUDA,
    # per-conversation bmm attention on CPU), else "sdpa", which isolates packed sequences through a
    # per-document mask (docs/design.md, "Packed conversations never see each other"). Any transformers name (eager, flex_attention, ...) passes through.
    attn_implementation: str = "auto"
    gradient_checkpointing: bool = False
    # None: the tokenizer's own template. "chatml" (built in, for base models without one) or a Jinja
    # file, relative to the config file (lm/chat_template.py).
    chat_template: str | None = None

    @field_validator("chat_template")
    @classmethod
    def _resolve_template(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or v in BUILT_IN:
            return v
        base = (info.context or {}).get("base_dir")
        path = Path(v) if Path(v).is_absolute() or base is None else (Path(base) / v).resolve()
        if not path.is_file():
            raise ValueError(f"{v!r} is neither a built-in template ({', '.join(BUILT_IN)}) nor a Jinja file")
        return str(path)


class DecodingConfig(BaseModel):
    """How replies are generated (eval.decoding; the replay replies of training.replay). The evaluation uses
    one for every context and for base and adapter, so the adapter explains any difference."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(96, ge=1)
    do_sample: bool = False  # greedy by default
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0)
    seed: int = 0
