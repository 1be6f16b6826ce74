"""Loading the base model and tokenizer, and choosing the precision to run them in."""

from __future__ import annotations

from typing import Any

import torch

from emergent.lm.attention import resolve_attn_implementation
from emergent.lm.chat_template import apply_chat_template_setting
from emergent.lm.config import ModelConfig
from emergent.lm.registry import resolve_model_path


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX); without it bf16 is emulated and slower."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def choose_precision(asked: str, device: torch.device, setting: str = "training.precision") -> tuple[str, str | None]:
    """The precision to run in and, when it differs from what was asked, a warning naming `setting`.

    bf16 counts as supported on GPUs that report it and on CPUs with native bf16 matrix units (there,
    bf16 matmuls ran 2.3× fp32: bench/RESULTS.md, CPU bf16).
    """
    cuda = device.type == "cuda"
    bf16_ok = torch.cuda.is_bf16_supported() if cuda else cpu_has_native_bf16()
    if asked == "auto":
        return ("bf16" if bf16_ok else "fp32"), None
    if asked == "bf16" and not bf16_ok:
        where = torch.cuda.get_device_name(device) if cuda else "this CPU (no AVX512-BF16 or AMX)"
        return "fp32", f"{setting} bf16 is not supported on {where}; using fp32 instead"
    if asked == "fp16" and not cuda:
        return "fp32", f"{setting} fp16 needs a CUDA GPU; using fp32 instead"
    return asked, None


def inference_dtype(asked: str, device: torch.device, setting: str) -> tuple[torch.dtype, str | None]:
    """The dtype to load a model in for generation (eval, chat): `asked` resolved as `choose_precision`
    resolves it, the weights themselves in that precision (training keeps fp32 weights under fp16)."""
    chosen, warning = choose_precision(asked, device, setting)
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[chosen], warning


def load_tokenizer(cfg: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    path = resolve_model_path(cfg.name)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    return apply_chat_template_setting(tokenizer, cfg.chat_template, cfg.name)


def load_model(cfg: ModelConfig, precision: str, device: torch.device | None = None) -> Any:
    """The base model with its KV cache off: packed-sequence isolation needs no cache object."""
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float32, "fp32": torch.float32}[precision]
    path = resolve_model_path(cfg.name)
    config = AutoConfig.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        config=config,
        dtype=dtype,
        trust_remote_code=cfg.trust_remote_code,
        attn_implementation=resolve_attn_implementation(cfg.attn_implementation, device or torch.device("cpu"), config),
    )
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model
