"""Shared fixtures: paths to the shared corpora, a real tokenizer, a tiny random Llama on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
TOKENIZER_DIR = Path(__file__).parent / "fixtures" / "smollm2-tokenizer"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: the project must not need it at run time."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not found: the shared corpora are only on development machines and CI")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tokenizer_dir() -> Path:
    return TOKENIZER_DIR


def build_tiny_llama(target: Path, seed: int = 0) -> Path:
    """A 2-layer random Llama with SmolLM2's real tokenizer, saved as an ordinary HF folder."""
    import shutil

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(target)
    for f in TOKENIZER_DIR.iterdir():
        if f.suffix != ".md":
            shutil.copy(f, target / f.name)
    return target


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path to a tiny random Llama (+ real tokenizer) for fast model tests."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def build_tiny_adapter(model_dir: Path, target: Path, modules: list[str], seed: int = 0) -> Path:
    """A LoRA adapter on `model_dir` with random (non-zero) B, so it changes outputs; saved like training does."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    lora = LoraConfig(r=4, lora_alpha=64, target_modules=modules, init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora).save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def make_tiny_adapter():
    """`build_tiny_adapter` as a fixture, so test folders need not import this conftest."""
    return build_tiny_adapter
