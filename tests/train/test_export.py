"""The merged export, and the shipped configs' training sections."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emergent.config import load_config
from emergent.train.trainer import train

from .conftest import make_config, write_phases

ROOT = Path(__file__).resolve().parents[2]


def test_export_merge_writes_a_model_equal_to_base_plus_adapter(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from typer.testing import CliRunner

    from emergent.cli import app

    data = write_phases(tmp_path / "data", per_phase=4)
    cfg = make_config(tiny_model_dir, tmp_path, max_steps_per_phase=1)
    train(cfg, data, tmp_path / "out", show_progress=False)
    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "out" / "adapter"), "--merge", "-o", str(tmp_path / "merged")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    assert (tmp_path / "merged" / "tokenizer.json").is_file()
    ids = torch.tensor([[1, 400, 500, 600, 700]])
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "out" / "adapter")
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft(ids).logits, rtol=1e-4, atol=1e-4)


def test_export_without_merge_is_refused(tmp_path):
    from typer.testing import CliRunner

    from emergent.cli import app

    result = CliRunner().invoke(app, ["export", str(tmp_path), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "--merge" in result.output


@pytest.mark.parametrize("name", ["seed.yaml", "quickstart.yaml"])
def test_shipped_configs_carry_the_seeds_training_numbers(name):
    cfg = load_config(ROOT / "configs" / name)
    assert [p.learning_rate for p in cfg.curriculum.phases] == [2e-5, 1.5e-5, 1e-5, 5e-6, 3e-6]
    assert (cfg.peft.r, cfg.peft.lora_alpha, cfg.peft.lora_dropout, cfg.peft.bias) == (32, 64, 0.05, "none")
    assert len(cfg.peft.target_modules) == 7
    assert (cfg.training.lr_scheduler, cfg.training.warmup_ratio, cfg.training.max_grad_norm) == ("cosine", 0.03, 1.0)
    if name == "seed.yaml":
        assert (cfg.training.batch_size, cfg.training.gradient_accumulation) == (4, 8)
