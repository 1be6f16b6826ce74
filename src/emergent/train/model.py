"""Loading the base model and tokenizer, choosing the precision, attaching the one LoRA adapter."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from emergent.models import public_id, resolve_model_path
from emergent.train.attention import resolve_attn_implementation
from emergent.train.config import ModelConfig, PeftSettings
from emergent.train.dropout import use_fast_lora_dropout
from emergent.train.fast_paths import plain_path_warning
from emergent.train.lora_speed import use_lean_lora_forward
from emergent.train.rms_norm import use_fused_rms_norm
from emergent.train.templates import apply_chat_template_setting


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX); without it bf16 is emulated and slower."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def choose_precision(asked: str, device: torch.device, setting: str = "training.precision") -> tuple[str, str | None]:
    """The precision to run in and, when it differs from what was asked, a warning naming `setting`.

    bf16 counts as supported on GPUs that report it and on CPUs with native bf16 matrix units: there,
    bf16 matmuls run ~2.3x faster than fp32 (measured on an AVX512-BF16 EPYC) and training ~1.5x.
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


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks (LlamaDecoderLayer, Qwen2DecoderLayer, ...), in order."""
    return [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]


def use_training_fast_paths(
    model: torch.nn.Module, autocast: bool, *, dropout: bool = True, lean_forward: bool = True, fused_norm: bool = True
) -> str | None:
    """Install the trainer's faster LoRA dropout, LoRA forward and RMSNorm on a PEFT model, in place;
    returns the warning for an architecture they are not verified on (then only the dropout, which
    replaces PEFT's own nn.Dropout whatever the model, is installed).

    One place for the trainer and the benchmark, so the benchmark measures what the trainer runs; the
    switches exist only for the benchmark to measure each lever. `autocast`: see `use_lean_lora_forward`.
    """
    if dropout:
        use_fast_lora_dropout(model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    warning = plain_path_warning(base.config)
    if warning:
        return warning
    if lean_forward:
        use_lean_lora_forward(model, autocast)
    if fused_norm:
        use_fused_rms_norm(model)
    return None


def compile_layers(model: torch.nn.Module) -> int:
    """torch.compile each decoder layer in place (regional compilation); returns how many.

    The layers share one structure, so the compiled code is reused across them: compile time stays
    that of one layer, while norms, rotary embeddings, activations and the LoRA branches get fused.
    The output head and loss stay eager (their shapes change with the number of loss tokens).
    """
    layers = decoder_layers(model)
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """The distinct short names of the model's Linear layers (what `target_modules` may list)."""
    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    return sorted(names)


def add_adapter(model: torch.nn.Module, settings: PeftSettings, model_name: str) -> Any:
    """Wrap `model` with a fresh LoRA adapter; unknown target modules fail with the names it has."""
    from peft import LoraConfig, get_peft_model

    have = linear_module_names(model)
    missing = [t for t in settings.target_modules if t not in have]
    if missing:
        raise ValueError(
            f"peft.target_modules {missing} are not module names of {model_name}; its Linear layers are "
            f"{have} — set peft.target_modules to some of those"
        )
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules),
        bias=settings.bias,
        task_type=settings.task_type,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft warns about tied embeddings it does not touch
        peft_model = get_peft_model(model, config)
    # Not the local cache folder PEFT would write: an adapter folder copied elsewhere must name a model
    # that exists there (the hub id of the embedded default, models.public_id).
    peft_model.peft_config["default"].base_model_name_or_path = public_id(model_name)
    return peft_model


def saves_embeddings(model: Any) -> bool:
    """Whether the adapter's weights include embedding layers: decided from its targets, not by PEFT's
    "auto", which looks the base id up on the hub (a network call, or a warning offline, at every
    checkpoint) to learn whether the vocabulary grew — training never grows it."""
    targets = model.peft_config["default"].target_modules
    return bool(set([targets] if isinstance(targets, str) else targets) & {"embed_tokens", "lm_head"})


def save_adapter(model: Any, folder: Path, state_dict: dict) -> None:
    """Write the adapter folder (PEFT layout) from the gathered LoRA `state_dict`."""
    model.save_pretrained(folder, state_dict=state_dict, save_embedding_layers=saves_embeddings(model))
