"""Merging the adapter into its base model and writing a standalone safetensors model."""

from __future__ import annotations

from pathlib import Path

from emergent.lm.registry import adapter_base, resolve_model_path


def base_model_of(adapter: Path) -> str:
    if not (Path(adapter) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter}: no adapter_config.json — pass an adapter folder such as RUN/train/adapter")
    return adapter_base(adapter)


def merge_adapter(adapter: Path, out: Path, model: str | None = None, trust_remote_code: bool = False) -> Path:
    """Load base + adapter, fold the LoRA weights into the base weights, save model and tokenizer to `out`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_path = resolve_model_path(model or base_model_of(adapter))
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32, trust_remote_code=trust_remote_code)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)  # safetensors by default
    # The adapter folder's tokenizer when training saved it there: it carries the chat template trained with.
    tok_src = adapter if (Path(adapter) / "tokenizer_config.json").is_file() else base_path
    AutoTokenizer.from_pretrained(tok_src, trust_remote_code=trust_remote_code).save_pretrained(out)
    return out
