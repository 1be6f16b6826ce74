"""`emergent run` orchestration: stages run in order, finished stages are reused, changed config re-runs
downstream, failures leave a partial report. Stage bodies are replaced by fakes that write the contract files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from emergent import run
from emergent.cli import app
from emergent.config import load_config
from report import fake_run


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Replace the three stage bodies with fakes that write their outputs; record (stage, resume)."""
    log: list[tuple[str, bool]] = []

    def data(cfg, run_dir, show_progress, resume):
        log.append(("data", resume))
        (run_dir / "data").mkdir(parents=True, exist_ok=True)
        m = fake_run.manifest()
        (run_dir / "data" / "manifest.json").write_text(json.dumps(m))
        return m

    def train(cfg, run_dir, show_progress, resume):
        log.append(("train", resume))
        fake_run.train_files(run_dir / "train")
        return json.loads((run_dir / "train" / "train_summary.json").read_text())

    def evaluate(cfg, run_dir, show_progress, resume):
        log.append(("eval", resume))
        fake_run.eval_files(run_dir / "eval")
        return {}

    monkeypatch.setattr(run, "STAGE_FUNCTIONS", {"data": data, "train": train, "eval": evaluate})
    return log


def write_config(tmp_path: Path, **overrides) -> Path:
    cfg = {"name": "tiny", "output_dir": str(tmp_path / "run"), **overrides}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def statuses(outcome: run.RunOutcome) -> list[str]:
    return [s.status for s in outcome.stages]


def test_runs_all_then_reuses_then_reruns_what_changed(tmp_path: Path, calls: list) -> None:
    cfg = load_config(write_config(tmp_path))
    first = run.run_pipeline(cfg, show_progress=False)
    assert first.ok and statuses(first) == ["ran", "ran", "ran"]
    assert first.report.is_file() and first.model_card.name == "README.md"
    assert "phase1_foundation" in first.model_card.read_text()

    again = run.run_pipeline(cfg, show_progress=False)
    assert statuses(again) == ["reused", "reused", "reused"] and len(calls) == 3

    # a training change re-runs training and evaluation, not the data build; the old train folder is cleared
    (tmp_path / "run" / "train" / "stale.txt").write_text("old")
    changed = load_config(write_config(tmp_path, training={"batch_size": 2}))
    third = run.run_pipeline(changed, show_progress=False)
    assert statuses(third) == ["reused", "ran", "ran"]
    assert not (tmp_path / "run" / "train" / "stale.txt").exists()

    fresh = run.run_pipeline(changed, fresh=True, show_progress=False)
    assert statuses(fresh) == ["ran", "ran", "ran"]


def test_phase_rates_retrain_while_phase_membership_rebuilds(tmp_path: Path) -> None:
    phases = load_config(write_config(tmp_path)).model_dump(mode="json")["curriculum"]["phases"]
    base = run.fingerprints(load_config(write_config(tmp_path)))
    faster = [{**p, "learning_rate": p["learning_rate"] * 2} for p in phases]
    rates = run.fingerprints(load_config(write_config(tmp_path, curriculum={"phases": faster})))
    assert rates["data"] == base["data"] and rates["train"] != base["train"]
    moved = [{**p, "categories": ["technical"]} if i == 0 else p for i, p in enumerate(phases)]
    rebuilt = run.fingerprints(load_config(write_config(tmp_path, curriculum={"phases": moved})))
    assert rebuilt["data"] != base["data"]
    # The evaluation re-runs when the suite's items change, not only its settings.
    fewer = run.fingerprints(load_config(write_config(tmp_path, eval={"prompts_per_context": 1})))
    assert fewer["train"] == base["train"] and fewer["eval"] != base["eval"]


def test_failure_stops_and_still_writes_report(tmp_path: Path, calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cfg, run_dir, show_progress, resume):
        (run_dir / "train").mkdir(parents=True, exist_ok=True)
        (run_dir / "train" / "checkpoints").mkdir(exist_ok=True)
        raise RuntimeError("out of memory — lower training.batch_size")

    good_train = run.STAGE_FUNCTIONS["train"]
    monkeypatch.setitem(run.STAGE_FUNCTIONS, "train", broken)
    cfg = load_config(write_config(tmp_path))
    out = run.run_pipeline(cfg, show_progress=False)
    assert statuses(out) == ["ran", "failed", "skipped"]
    assert "lower training.batch_size" in out.stages[1].note and out.report.is_file()

    assert json.loads((tmp_path / "run" / "stages.json").read_text())["train"]["state"] == "running"

    # rerun, same config: the interrupted training continues (resume=True) instead of starting over
    monkeypatch.setitem(run.STAGE_FUNCTIONS, "train", good_train)
    again = run.run_pipeline(cfg, show_progress=False)
    assert statuses(again) == ["reused", "ran", "ran"] and calls[-2:] == [("train", True), ("eval", False)]
    assert "continued an interrupted run" in again.stages[1].note


def test_unknown_or_stale_training_folder(tmp_path: Path, calls: list) -> None:
    cfg = load_config(write_config(tmp_path))
    run.run_pipeline(cfg, skip={"train", "eval"}, show_progress=False)
    (tmp_path / "run" / "train" / "checkpoints").mkdir(parents=True)  # made by `emergent train`, not by run
    refused = run.run_pipeline(cfg, show_progress=False)
    assert statuses(refused) == ["reused", "failed", "skipped"] and "--resume" in refused.stages[1].note
    assert (tmp_path / "run" / "train" / "checkpoints").is_dir()  # nothing thrown away
    resumed = run.run_pipeline(cfg, resume=True, show_progress=False)
    assert statuses(resumed) == ["reused", "ran", "ran"] and ("train", True) in calls

    # an interrupted training under another config is stale: cleared and started afresh
    ledger = json.loads((tmp_path / "run" / "stages.json").read_text())
    ledger["train"]["state"] = "running"
    (tmp_path / "run" / "stages.json").write_text(json.dumps(ledger))
    changed = load_config(write_config(tmp_path, training={"batch_size": 2}))
    (tmp_path / "run" / "train" / "old.txt").write_text("x")
    out = run.run_pipeline(changed, show_progress=False)
    assert statuses(out) == ["reused", "ran", "ran"] and calls[-2] == ("train", False)
    assert not (tmp_path / "run" / "train" / "old.txt").exists()


def test_skip_flags(tmp_path: Path, calls: list) -> None:
    cfg = load_config(write_config(tmp_path))
    out = run.run_pipeline(cfg, skip={"train", "eval"}, show_progress=False)
    assert statuses(out) == ["ran", "skipped", "skipped"] and out.model_card is None
    assert "no train/train_summary.json" in out.stages[1].note


def test_run_command_prints_summary(tmp_path: Path, calls: list) -> None:
    result = CliRunner().invoke(
        app, ["run", str(write_config(tmp_path)), "--no-progress", "-o", str(tmp_path / "other")]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "report" in out and str(tmp_path / "other" / "report.html") in out.replace("\n", "")
    assert "2,270 conversations kept of 2,700" in out and "5 phases" in out and "emergent chat" in out
    assert "mean loss by phase" in out  # not one step's loss against another phase's
    # The summary names the first two headline figures no control reaches (this eval.json has neither the
    # primary metric nor register fit): consistency, never the turns to switch that an echo reaches.
    assert "Consistency" in out and "Transition" not in out
    missing = CliRunner().invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0
