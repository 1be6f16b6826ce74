"""The quickstart training setup on the real SmolLM2-135M through all five phases (a few steps each)."""

from __future__ import annotations

import json

import pytest

from emergent.config import load_config
from emergent.train.trainer import train

from .conftest import PHASES, write_phases
from .test_export import ROOT


@pytest.mark.slow
def test_quickstart_training_runs_all_five_phases_on_smollm2(tmp_path):
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    # The quickstart's model, LoRA, schedule and packing; a smaller budget than its 3 steps per phase.
    cfg.training.max_steps_per_phase = 2
    cfg.training.max_seq_len = 256
    data = write_phases(tmp_path / "data", per_phase=16)
    summary = train(cfg, data, tmp_path / "train", show_progress=False)
    assert [p["name"] for p in summary["phases"]] == list(PHASES)
    assert all(p["steps"] == 2 and p["loss_first"] > 0 for p in summary["phases"])
    assert summary["trainable_parameters"] == 9_768_960  # r=32 on the 7 projections of SmolLM2-135M
    adapter = json.loads((tmp_path / "train" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 32 and adapter["lora_alpha"] == 64
