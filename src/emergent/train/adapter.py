"""The one LoRA adapter: attaching it, the training fast paths installed on it, saving it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from emergent.lm.fast_paths import plain_path_warning
from emergent.lm.registry import public_id
from emergent.train.config import PeftSettings
from emergent.train.dropout import use_fast_lora_dropout
from emergent.train.lora_forward import use_lean_lora_forward
from emergent.train.rms_norm import use_fused_rms_norm


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
    # that exists there (the hub id of the embedded default, lm.registry.public_id).
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
