"""The fast training paths per architecture: on for the verified list, off (and exact) for the rest.

Each verified model type gets a tiny random instance; its packed loss and LoRA gradients with every
fast path on (varlen attention, chunked head + loss, fused RMSNorm, lean LoRA forward) must equal
the model's own forward (sdpa, one conversation at a time, F.cross_entropy). Granite scales its
logits in its own forward: it must take the plain path and still match, where the fast head would not.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoTokenizer

from emergent.lm.attention import VARLEN
from emergent.lm.config import ModelConfig
from emergent.lm.fast_paths import VERIFIED_MODEL_TYPES
from emergent.lm.loading import load_model
from emergent.lm.loss import PackedLoss
from emergent.lm.packing import collate, loss_inputs
from emergent.lm.render import encode
from emergent.train.adapter import add_adapter, use_training_fast_paths
from emergent.train.config import PeftSettings

from .conftest import conversations

TOKENIZER_DIR = Path(__file__).parents[1] / "fixtures" / "smollm2-tokenizer"

SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=2048)  # fmt: skip
ARCHITECTURES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 16}),
    # Not verified: multiplies its logits by 1 / logits_scaling inside its own forward.
    "granite": ("GraniteConfig", "GraniteForCausalLM", {"logits_scaling": 4.0}),
}


def _model_dir(kind: str, tmp_path_factory):
    config_cls, model_cls, extra = ARCHITECTURES[kind]
    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    config = getattr(transformers, config_cls)(vocab_size=len(tok), **SHAPE, **ids, **extra)
    torch.manual_seed(0)
    target = tmp_path_factory.mktemp(kind)
    getattr(transformers, model_cls)(config).save_pretrained(target)
    for f in TOKENIZER_DIR.iterdir():
        if f.suffix != ".md":
            shutil.copy(f, target / f.name)
    return target


def _with_adapter(model_dir, attn: str):
    model = load_model(ModelConfig(name=str(model_dir), attn_implementation=attn), "fp32")
    torch.manual_seed(1)
    model = add_adapter(model, PeftSettings(r=4, lora_alpha=8, lora_dropout=0.0), "tiny")
    with torch.no_grad():  # B is zero at init: make the adapter change the outputs, the same in both copies
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.05)
    return model


def _reference(model, examples):
    """Sum of losses and LoRA gradients the plain way: one conversation per forward, the model's own logits."""
    model.zero_grad()
    total = torch.zeros(())
    for ex in examples:
        ids = torch.tensor([ex.input_ids])
        logits = model(input_ids=ids, use_cache=False).logits[0, :-1]
        labels = torch.tensor(ex.labels[1:])
        total = total + F.cross_entropy(logits[labels].float(), ids[0, 1:][labels], reduction="sum")
    total.backward()
    return total.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kind", sorted(ARCHITECTURES))
def test_fast_paths_match_the_models_own_forward(kind, tmp_path_factory):
    model_dir = _model_dir(kind, tmp_path_factory)
    tok = AutoTokenizer.from_pretrained(model_dir)
    examples = [encode(c, tok, 192) for c in conversations(6)]
    fast = _with_adapter(model_dir, "auto")
    warning = use_training_fast_paths(fast, autocast=False)
    verified = kind in VERIFIED_MODEL_TYPES
    assert (warning is None) == verified
    assert (fast.config._attn_implementation == VARLEN) == verified
    lean = sum("forward" in vars(m) for m in fast.modules() if type(m).__name__ == "Linear")
    assert (lean > 0) == verified  # the lean LoRA forward is installed per instance, only when verified
    fused = sum("forward" in vars(m) for m in fast.modules() if type(m).__name__.endswith("RMSNorm"))
    assert (fused > 0) == verified

    batch = collate([examples[:3], examples[3:]], tok.pad_token_id, flat=verified)
    total, _n = PackedLoss(fast)(*loss_inputs(batch, torch.device("cpu")))
    total.backward()
    grads = {n: p.grad for n, p in fast.named_parameters() if p.requires_grad}

    plain = _with_adapter(model_dir, "sdpa")
    ref_total, ref_grads = _reference(plain, examples)
    torch.testing.assert_close(total.detach(), ref_total, rtol=1e-5, atol=1e-4)
    assert grads.keys() == ref_grads.keys()
    for name, grad in ref_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-5, msg=name)


def test_the_logit_scaling_model_would_be_wrong_on_the_fast_head(tmp_path_factory):
    """The control for the Granite case above: applying the head directly ignores logits_scaling."""
    model_dir = _model_dir("granite", tmp_path_factory)
    tok = AutoTokenizer.from_pretrained(model_dir)
    ex = encode(conversations(1)[0], tok, 192)
    model = load_model(ModelConfig(name=str(model_dir), attn_implementation="sdpa"), "fp32")
    ids = torch.tensor([ex.input_ids])
    labels = torch.tensor(ex.labels[1:])
    with torch.no_grad():
        own = model(input_ids=ids).logits[0, :-1][labels]
        hidden = model.get_decoder()(input_ids=ids).last_hidden_state[0, :-1][labels]
        direct = model.get_output_embeddings()(hidden)
    assert not torch.allclose(own, direct, atol=1e-3)


def test_an_unverified_model_warns_once_in_the_training_summary(tmp_path_factory, tmp_path):
    from emergent.config import parse_config
    from emergent.train.trainer import train

    from .conftest import config_dict, write_phases

    model_dir = _model_dir("granite", tmp_path_factory)
    data = write_phases(tmp_path / "data", per_phase=3, validation=0)
    raw = config_dict(model_dir, tmp_path, max_steps_per_phase=1, validation={"enabled": False})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = train(parse_config(raw, tmp_path / "c.yaml"), data, tmp_path / "out", show_progress=False)
    plain = [w for w in summary["warnings"] if "'granite' is not among" in w]
    assert len(plain) == 1 and "model's own forward" in plain[0]
    assert sum("'granite' is not among" in str(w.message) for w in caught) == 1
