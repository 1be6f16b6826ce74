"""The real thing, small: SmolLM2-135M-Instruct base vs a freshly initialised LoRA on a suite subset.

A fresh LoRA has B = 0, so it must reproduce the base model exactly: every difference is 0 with a
zero-width CI. That pins down that base and adapter share template, decoding and batching.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from emergent.lm.registry import resolve_model_path

    model = AutoModelForCausalLM.from_pretrained(resolve_model_path("smollm2-135m-instruct"))
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    out = tmp_path_factory.mktemp("smollm2-lora")
    get_peft_model(model, cfg).save_pretrained(out)
    return out


def test_suite_subset_on_smollm2_base_vs_fresh_lora(tmp_path: Path, smollm2_lora: Path):
    from emergent.config import load_config
    from emergent.evaluate.run import evaluate

    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "output_dir": str(tmp_path / "run"),
                "eval": {
                    "prompts_per_context": 1,
                    "consistency_dialogues": 1,
                    "transition_dialogues": 1,
                    "dialogues_per_kind": 1,
                    "decoding": {"max_new_tokens": 24},
                    "bootstrap_samples": 200,
                },
            }
        )
    )
    result = evaluate(load_config(cfg_path), tmp_path / "eval", smollm2_lora, show_progress=False)
    gens = [json.loads(x) for x in (tmp_path / "eval" / "generations.jsonl").read_text().splitlines()]
    base = {(g["id"], g["turn"]): g["response"] for g in gens if g["side"] == "base"}
    adapter = {(g["id"], g["turn"]): g["response"] for g in gens if g["side"] == "adapter"}
    assert base == adapter and all(base.values())  # real, non-empty text; B = 0 changes nothing
    check_result(result)


def check_result(result: dict) -> None:
    # Identical replies pass and fail the same checks: the primary metric's difference is exactly zero.
    assert result["primary"]["difference"]["mean"] == 0.0 and result["primary"]["difference"]["ci95"] == [0.0, 0.0]
    assert result["primary"]["base"]["n"] == result["primary"]["items_checked"] == 9
    for metric in ("range", "consistency", "transitions"):
        assert result[metric]["difference"]["mean"] == 0.0 and result[metric]["difference"]["ci95"] == [0.0, 0.0]
    assert 0.0 <= result["range"]["base"]["mean"] <= 1.0
    # One prompt per context is too few to cross-validate: collapse says so instead of inventing a number.
    assert result["collapse"]["base"]["context_predictability"]["folds"] == 0
    assert result["collapse"]["difference"]["mean"] is None
