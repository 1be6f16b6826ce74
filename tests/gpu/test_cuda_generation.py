"""CUDA-only (device machine): the evaluation's generator on a GPU. The adapter is merged into the
weights for generation and the base weights are put back bit for bit; in fp32 the merged adapter
writes the same greedy texts as PEFT's unmerged forward, and the base pass matches a model loaded
without any adapter. On CPU the same properties are tested in tests/evaluate (this checks the CUDA
placement of the model, the encodings and the saved weights)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from emergent.lm.config import DecodingConfig
from emergent.lm.generation import LocalGenerator

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CONVS = [
    [{"role": "user", "content": "Write a haiku about rain."}],
    [{"role": "user", "content": "What is 17 times 23? Show your working."}],
    [{"role": "user", "content": "My dog died yesterday and I can't stop crying."}],
]


def _weights(gen: LocalGenerator) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in gen.model.state_dict().items()}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_merged_generation_on_cuda_restores_base_weights(tiny_model_dir, make_tiny_adapter, tmp_path, precision):
    adapter = make_tiny_adapter(tiny_model_dir, tmp_path / "adapter", MODULES)
    gen = LocalGenerator(
        str(tiny_model_dir), adapter, DecodingConfig(max_new_tokens=12), 2, "cuda", precision=precision
    )
    assert next(gen.model.parameters()).device.type == "cuda"
    before = _weights(gen)
    tools = [None] * len(CONVS)
    base = gen.generate(CONVS, tools, False)
    merged = gen.generate(CONVS, tools, True)
    after = _weights(gen)
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), f"{k} changed by a merged generation"
    assert gen.generate(CONVS, tools, False) == base  # the base pass after a merge is the base pass before it
    if precision == "fp32":
        original = LocalGenerator._merged
        try:  # PEFT's unmerged forward: two more matmuls per projection, same function in fp32
            LocalGenerator._merged = lambda self, use_adapter: contextlib.nullcontext()
            assert gen.generate(CONVS, tools, True) == merged
        finally:
            LocalGenerator._merged = original
        plain = LocalGenerator(
            str(tiny_model_dir), None, DecodingConfig(max_new_tokens=12), 2, "cuda", precision="fp32"
        )
        assert plain.generate(CONVS, tools, False) == base
        assert merged != base  # the adapter's random B changes the outputs, so the comparison above means something
