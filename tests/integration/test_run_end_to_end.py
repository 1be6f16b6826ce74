"""`emergent run` end to end on the bundled sample: real data build, real curriculum training (tiny model,
one step per phase), real evaluation of base vs adapter, the report and the model card — then a second
run reuses every finished stage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from emergent.cli import app

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def tiny_budget_config(tmp_path: Path, model_dir: Path) -> Path:
    """configs/quickstart.yaml with its sources capped, the tiny model and a one-step-per-phase budget."""
    cfg = yaml.safe_load(QUICKSTART.read_text())
    for src in cfg["sources"]:
        for key in ("path", "paths"):
            if key in src:  # relative to configs/, and this config is written elsewhere
                val = src[key]
                src[key] = (
                    [str((QUICKSTART.parent / p).resolve()) for p in val]
                    if isinstance(val, list)
                    else str((QUICKSTART.parent / val).resolve())
                )
        src["max_examples"] = 40
    cfg["output_dir"] = str(tmp_path / "run")
    cfg["model"] = {**cfg.get("model", {}), "name": str(model_dir)}
    training = cfg.get("training", {})
    training.update(
        {
            "batch_size": 1,
            "gradient_accumulation": 1,
            "max_seq_len": 256,
            "max_steps_per_phase": 1,
            "checkpoint_every_steps": 1,
        }
    )
    cfg["training"] = training
    ev = cfg.get("eval", {})
    ev.update(
        {
            "prompts_per_context": 2,
            "consistency_dialogues": 1,
            "transition_dialogues": 1,
            "dialogues_per_kind": 1,
            "batch_size": 8,
            "bootstrap_samples": 100,
        }
    )
    ev["decoding"] = {**ev.get("decoding", {}), "max_new_tokens": 8}
    cfg["eval"] = ev
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.slow
def test_run_builds_trains_evaluates_and_reports(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = tiny_budget_config(tmp_path, tiny_model_dir)
    result = CliRunner().invoke(app, ["run", str(config), "--no-progress"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = tmp_path / "run"
    for f in (
        "data/manifest.json",
        "train/train_summary.json",
        "train/metrics.jsonl",
        "data/validation.parquet",
        "train/validation.jsonl",
        "train/adapter/adapter_config.json",
        "eval/eval.json",
        "eval/generations.jsonl",
        "report.html",
        "train/adapter/README.md",
    ):
        assert (run / f).is_file(), f
    assert set(json.loads((run / "stages.json").read_text())) == {"data", "train", "eval"}
    # The held-out set flows through: built, scored in training, scored base vs adapter in evaluation.
    held = json.loads((run / "data" / "manifest.json").read_text())["validation"]["examples"]
    summary = json.loads((run / "train" / "train_summary.json").read_text())
    heldout = json.loads((run / "eval" / "eval.json").read_text())["heldout"]
    scored = summary["validation"]["examples"]  # conversations cut to no assistant token are counted out
    assert held > 0 and scored + sum(summary["validation"]["dropped"].values()) == held
    assert heldout["examples"] == scored and heldout["dropped"] == summary["validation"]["dropped"]
    assert heldout["base"]["loss"] == pytest.approx(summary["validation"]["base"]["loss"], rel=0.05)

    html = (run / "report.html").read_text()
    for cmd in ("emergent data build CONFIG", "emergent train CONFIG", "emergent eval CONFIG"):
        assert cmd not in html, f"a section is empty: {cmd}"
    for name in ("data", "composition", "training", "evaluation"):
        body = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S).group(1)
        assert "<svg" in body, f"{name} has no chart"
    card = (run / "train" / "adapter" / "README.md").read_text()
    assert "phase5_fine_tuning" in card and "MIT" in card

    again = CliRunner().invoke(app, ["run", str(config), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert again.output.count("reused") == 3
