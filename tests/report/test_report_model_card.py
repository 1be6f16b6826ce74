"""The model card in the adapter folder: base model, data composition, phases, evaluation, licences."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from emergent.report.model_card import write_model_card


def test_card_from_a_finished_run(fake_run: Path) -> None:
    text = write_model_card(fake_run).read_text()
    assert text.startswith("---\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\nlibrary_name: peft\n")
    assert "de-quantised" in text and "4-bit-rounded weights, not the original" in text  # honest about the base
    assert "| technical | 640 | 28.2% | 25–30% | ok |" in text
    assert "| self_instruct | Apache-2.0 | 1,120 | 1,017 |" in text
    assert "Apache-2.0, CC-BY-4.0, MIT, Public-Domain" in text
    assert "| phase2_analytical | analytical, ethical, specialized | 1.5e-05 | 8 |" in text
    assert "| loss first → last | mean loss |" in text
    ev = json.loads((fake_run / "eval" / "eval.json").read_text())["range"]

    def ci(e: dict) -> str:
        return f"{e['mean']:.3f} [{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}]"

    row = f"| Context hit rate [reached by a control: not evidence] | {ci(ev['base'])} | {ci(ev['adapter'])} | {ci(ev['difference'])} |"
    assert row in text


def test_card_for_a_hub_model_without_eval(fake_run: Path) -> None:
    shutil.rmtree(fake_run / "eval")
    cfg = fake_run / "train" / "adapter" / "adapter_config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "base_model_name_or_path": "meta-llama/Llama-3.2-1B"}))
    summary = fake_run / "train" / "train_summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "model": "meta-llama/Llama-3.2-1B"}))
    text = write_model_card(fake_run).read_text()
    assert "base_model: meta-llama/Llama-3.2-1B" in text and "de-quantised" not in text
    assert "## Evaluation" in text and "_n/a_" in text


def test_card_needs_an_adapter(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train first"):
        write_model_card(tmp_path)
