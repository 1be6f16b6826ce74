"""A study end to end on the tiny model: one data build, variants x seeds trained and evaluated, compared,
and killed mid-way then resumed by running the same command again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from emergent.cli import app
from emergent.errors import ConfigError
from emergent.study import plan

from .test_run_end_to_end import tiny_budget_config


def _study_config(tmp_path: Path, model_dir: Path, study: dict | None) -> Path:
    path = tiny_budget_config(tmp_path, model_dir)
    cfg = yaml.safe_load(path.read_text())
    cfg["eval"].update({"sides": ["base", "prompted", "adapter"], "heldout": {"enabled": False}})
    cfg["eval"]["decoding"]["max_new_tokens"] = 4
    if study is not None:
        cfg["study"] = study
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


STUDY = {
    "seeds": [0, 1],
    "variants": [
        {"name": "curriculum", "seeds": [0]},
        {"name": "shuffled", "set": {"training.curriculum": False, "training.lr_scale": 10}},
    ],
}


def test_plan_applies_each_variant_and_seed(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = _study_config(tmp_path, tiny_model_dir, STUDY)
    root, members = plan(config)
    assert [(m.variant, m.seed) for m in members] == [("curriculum", 0), ("shuffled", 0), ("shuffled", 1)]
    shuffled = members[2].cfg
    assert shuffled.training.curriculum is False and shuffled.training.lr_scale == 10 and shuffled.training.seed == 1
    assert members[0].cfg.training.curriculum is True and members[0].cfg.training.lr_scale == 1
    assert members[2].run_dir == root.output_dir / "runs" / "shuffled-seed1"
    assert {m.cfg.eval.generation_cache for m in members} == {str(root.output_dir / "cache" / "generations")}
    # --seeds replaces every variant's seeds; a plain config becomes one variant named after it.
    assert [m.seed for m in plan(config, [3, 4])[1]] == [3, 4, 3, 4]
    (tmp_path / "plain").mkdir()
    plain = _study_config(tmp_path / "plain", tiny_model_dir, None)
    assert [m.run_dir.name for m in plan(plain, [0, 1])[1]] == ["quickstart-seed0", "quickstart-seed1"]


def test_a_variant_may_not_change_the_shared_data_build(tmp_path: Path, tiny_model_dir: Path) -> None:
    bad = {"variants": [{"name": "x", "set": {"curate.max_bucket_share": 0.5}}]}
    with pytest.raises(ConfigError, match="a variant may change only"):
        plan(_study_config(tmp_path, tiny_model_dir, bad))
    typo = {"variants": [{"name": "x", "set": {"training.lr_scael": 2}}]}
    with pytest.raises(ConfigError, match="lr_scael"):
        (tmp_path / "t").mkdir()
        plan(_study_config(tmp_path / "t", tiny_model_dir, typo))


@pytest.mark.slow
def test_study_runs_every_member_on_one_build_and_resumes_after_a_kill(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = _study_config(tmp_path, tiny_model_dir, STUDY)
    run = tmp_path / "run"
    env = {**os.environ, "EMERGENT_PROGRESS_SECONDS": "1"}
    cmd = [sys.executable, "-m", "emergent", "run", str(config), "--no-progress"]
    # The second member trains long enough (30 steps) to be caught mid-training.
    cfg = yaml.safe_load(config.read_text())
    cfg["study"]["variants"][1]["set"]["training.max_steps_per_phase"] = 30
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill it once the second member has started training (the first has finished: train and eval).
    second = run / "runs" / "shuffled-seed0" / "train"
    deadline = time.time() + 600
    while not any(second.glob("checkpoints/*-step*/state.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the study ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first_adapter = (run / "runs/curriculum-seed0/train/adapter/adapter_model.safetensors").read_bytes()

    result = CliRunner().invoke(app, ["run", str(config), "--no-progress"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "continued an interrupted run" in result.output
    # The root reports the shared build only, each member its training and evaluation: nothing "skipped".
    assert "skipped" not in result.output and "--skip" not in result.output
    assert (run / "runs/curriculum-seed0/train/adapter/adapter_model.safetensors").read_bytes() == first_adapter
    stages = json.loads((run / "stages.json").read_text())
    assert set(stages) == {"data"}  # the root holds the shared build only
    names = ["curriculum-seed0", "shuffled-seed0", "shuffled-seed1"]
    for name in names:
        member = run / "runs" / name
        assert (member / "data").is_symlink() and (member / "data" / "manifest.json").is_file()
        ev = json.loads((member / "eval" / "eval.json").read_text())
        assert ev["sides"] == ["base", "prompted", "adapter"]
        assert (member / "report.html").is_file()
    # Base and prompted were generated once; every later evaluation reused them.
    later = [json.loads((run / "runs" / n / "eval" / "eval.json").read_text())["generations_reused"] for n in names[1:]]
    assert all({"base", "prompted"} <= set(r) for r in later)
    assert len(list((run / "cache" / "generations").glob("base-*.json"))) == 1
    summary = json.loads((run / "runs/shuffled-seed1/train/train_summary.json").read_text())
    assert summary["curriculum"] is False if "curriculum" in summary else True
    assert (run / "compare" / "compare.json").is_file() and (run / "compare" / "compare.md").is_file()
