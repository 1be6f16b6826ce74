"""CUDA-only (device machine): the shipped FSDP and DeepSpeed configs through `accelerate launch` on
one GPU, in bf16, train the tiny model to about the adapter that one plain process trains.

On CPU the same engines are checked exactly on 2 processes (tests/train/test_distributed.py); here
the point is accelerate's real GPU code paths (no CPU shim), bf16 mixed precision and the flash
varlen attention under each engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from emergent.config import parse_config
from emergent.train.trainer import train
from train.conftest import config_dict, write_phases

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "accelerate"


def _config(model_dir: Path, tmp: Path) -> dict:
    raw = config_dict(model_dir, tmp, batch_size=2, gradient_accumulation=1, precision="auto")
    raw["curriculum"]["phases"] = raw["curriculum"]["phases"][:2]
    return raw


@pytest.mark.parametrize("engine", ["fsdp", "deepspeed_zero2", "deepspeed_zero3"])
def test_engine_on_one_gpu_trains_the_plain_adapter(engine, tiny_model_dir, tmp_path):
    if engine.startswith("deepspeed"):
        pytest.importorskip("deepspeed")
    data = write_phases(tmp_path / "data")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(_config(tiny_model_dir, tmp_path)))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(SHIPPED / f"{engine}.yaml"),
           "--num_processes", "1", "--main_process_port", "0", "-m", "emergent", "train", str(config),
           "--data", str(data), "-o", str(tmp_path / "engine"), "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = yaml.safe_load((tmp_path / "engine" / "train_summary.json").read_text())
    assert summary["distributed"] == ("FSDP" if engine == "fsdp" else "DEEPSPEED")
    assert summary["precision"] == "bf16" and summary["device"] != "cpu"

    plain = train(parse_config(_config(tiny_model_dir, tmp_path), tmp_path / "p.yaml"), data, tmp_path / "plain",
                  show_progress=False)  # fmt: skip
    assert [p["steps"] for p in summary["phases"]] == [p["steps"] for p in plain["phases"]]
    a = load_file(tmp_path / "engine" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "plain" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    # bf16 compute differs between engines in rounding only: the trained LoRA weights agree closely.
    flat_a = torch.cat([a[k].float().flatten() for k in sorted(a)])
    flat_b = torch.cat([b[k].float().flatten() for k in sorted(b)])
    assert torch.nn.functional.cosine_similarity(flat_a, flat_b, dim=0) > 0.99
    assert (flat_a - flat_b).norm() < 0.05 * flat_b.norm()
    # The held-out loss, scored under the engine (flash varlen, bf16), agrees with the plain process's.
    assert summary["validation"]["base"]["loss"] == pytest.approx(plain["validation"]["base"]["loss"], rel=2e-2)
    for p, q in zip(summary["phases"], plain["phases"], strict=True):
        assert p["validation_loss"] == pytest.approx(q["validation_loss"], rel=2e-2)


def test_validation_losses_on_cuda_match_plain_forwards(tiny_model_dir):
    """Flat varlen rows through the flash kernel give each conversation the loss of its own forward."""
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emergent.data.store import write_conversations
    from emergent.lm.attention import VARLEN, register_varlen
    from emergent.lm.loss import PackedLoss
    from emergent.lm.scoring import conversation_losses
    from emergent.train.validation import load_validation
    from reference_losses import plain_losses
    from train.conftest import conversations

    path = Path(os.environ.get("TMPDIR", "/tmp")) / "cuda-validation.parquet"
    write_conversations(conversations(11, offset=500), path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = load_validation(path, tokenizer, 192)
    register_varlen()
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=VARLEN, dtype=torch.bfloat16)
    sums, counts = conversation_losses(PackedLoss(model.cuda().eval()), data, 3, 0, torch.device("cuda"), flat=True)
    ref_sums, ref_counts = plain_losses(AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), data.examples)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_allclose(sums, ref_sums, rtol=2e-2)
    assert np.all(counts > 0)
