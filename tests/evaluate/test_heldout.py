"""Held-out loss, base vs adapter, on the build's validation set: equal to plain per-conversation forwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emergent.data.store import write_conversations
from emergent.evaluate.heldout import heldout_loss
from emergent.lm.config import DecodingConfig
from emergent.lm.generation import LocalGenerator
from emergent.schema import make_conversation
from reference_losses import encode_file, plain_losses

TALKS = {
    "technical": ("Write a Python function that adds {i} to x.", "def add(x):\n    return x + {i}"),
    "empathetic": (
        "I lost my job after {i} years and feel empty.",
        "I'm so sorry. That is a real loss; how are you coping?",
    ),
    "creative": ("Tell a two-line story about a fox number {i}.", "Fox {i} found a lantern. It lit the whole forest."),
}


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, make_tiny_adapter) -> Path:
    return make_tiny_adapter(
        tiny_model_dir, tmp_path_factory.mktemp("adapter"), ["q_proj", "v_proj", "down_proj"], seed=3
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    convs = []
    for i in range(4):
        for cat, (user, assistant) in TALKS.items():
            msgs = [
                {"role": "user", "content": user.format(i=i)},
                {"role": "assistant", "content": assistant.format(i=i)},
            ]
            convs.append(make_conversation(msgs, source="hand", origin=f"{cat}{i}", category=cat))
    write_conversations(convs, folder / "validation.parquet")
    return folder


def _plain(model: torch.nn.Module, tokenizer, data_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    examples, cats = encode_file(data_dir / "validation.parquet", tokenizer)
    return (*plain_losses(model, examples), cats)


def test_base_and_adapter_losses_and_their_paired_difference(tiny_model_dir, tiny_adapter, data_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    gen = LocalGenerator(str(tiny_model_dir), tiny_adapter, DecodingConfig(), 4, "cpu", precision="fp32")
    h = heldout_loss(gen, data_dir, 192, None, 2, ["base", "adapter"], 500, 0)

    base_model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    bs, counts, cats = _plain(base_model, gen.tokenizer, data_dir)
    adapter_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tiny_adapter).eval()
    as_, counts_a, _ = _plain(adapter_model, gen.tokenizer, data_dir)
    assert (counts == counts_a).all()
    assert h["examples"] == 12 and h["loss_tokens"] == counts.sum()
    assert h["base"]["loss"] == pytest.approx(bs.sum() / counts.sum(), rel=1e-5)
    assert h["adapter"]["loss"] == pytest.approx(as_.sum() / counts.sum(), rel=1e-5)
    assert h["adapter"]["loss"] != pytest.approx(h["base"]["loss"], rel=1e-3)  # the adapter's random B moves it
    per_conversation = as_ / counts - bs / counts
    assert h["difference"]["mean"] == pytest.approx(per_conversation.mean(), abs=1e-4)
    lo, hi = h["difference"]["ci95"]
    assert lo <= h["difference"]["mean"] <= hi and h["difference"]["n"] == 12
    assert set(h["by_category"]) == set(TALKS)
    for cat, entry in h["by_category"].items():
        sel = np.array(cats) == cat
        assert entry["examples"] == 4
        assert entry["base"] == pytest.approx(bs[sel].sum() / counts[sel].sum(), rel=1e-5)
        assert entry["difference"]["mean"] == pytest.approx(per_conversation[sel].mean(), abs=1e-4)


def test_base_only_has_no_difference_and_no_set_gives_none(tiny_model_dir, data_dir, tmp_path):
    gen = LocalGenerator(str(tiny_model_dir), None, DecodingConfig(), 4, "cpu", precision="fp32")
    h = heldout_loss(gen, data_dir, 192, 2, 4, ["base"], 200, 0)
    assert h["examples"] == 2 and "adapter" not in h and "difference" not in h
    assert len(h["by_category"]) == 2  # a limit is taken per bucket in turn
    assert heldout_loss(gen, tmp_path, 192, None, 4, ["base"], 200, 0) is None
