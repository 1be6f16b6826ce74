"""`emergent run`: build the mixture, train through the curriculum, evaluate base vs adapter, write the report.

A finished stage is reused when the config sections it depends on are unchanged: RUN/stages.json keeps a
fingerprint of those sections per stage, and each fingerprint includes its upstream stage's, so changing
the data config re-runs data, training and evaluation, while changing only `eval` re-runs evaluation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergent.config import RunConfig

STAGES = ("data", "train", "eval")
# Config sections each stage reads (its upstream stage's sections come in through the chained fingerprint).
STAGE_SECTIONS = {
    "data": ("seed", "sources", "ingest", "curate", "phase_membership"),  # rates do not change the build
    "train": ("model", "peft", "curriculum", "training"),
    "eval": ("model", "eval", "suite_items"),
}
# The file whose presence says a stage finished (each stage writes it last).
DONE_FILE = {"data": "data/manifest.json", "train": "train/train_summary.json", "eval": "eval/eval.json"}


@dataclass
class StageResult:
    """What happened to one stage in this invocation."""

    name: str
    status: str  # "ran", "reused", "skipped", "failed"
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class RunOutcome:
    run_dir: Path
    stages: list[StageResult]
    report: Path | None = None
    model_card: Path | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def suite_digest(cfg: RunConfig) -> str:
    """A hash of the items the evaluation asks (an edited or upgraded suite re-runs it); '' if it cannot load."""
    from emergent.evaluate.run import suite_for

    try:
        suite = suite_for(cfg.eval)
    except (OSError, ValueError):
        return ""  # the evaluation itself reports the problem
    items = [[it.id, it.turns, it.contexts, it.tools, it.checks] for it in suite.items]
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprints(cfg: RunConfig) -> dict[str, str]:
    """Per stage, a hash of the config it depends on, chained through its upstream stages (evaluation: and
    the suite's items)."""
    dump = cfg.model_dump(mode="json")
    dump["suite_items"] = suite_digest(cfg)
    dump["phase_membership"] = [[p["name"], p["categories"]] for p in dump["curriculum"]["phases"]]
    out, upstream = {}, ""
    for stage in STAGES:
        payload = json.dumps({"upstream": upstream, **{k: dump.get(k) for k in STAGE_SECTIONS[stage]}}, sort_keys=True)
        upstream = out[stage] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return out


class StageLedger:
    """RUN/stages.json: which stages finished, with which config fingerprint, and how long they took."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "stages.json"
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def finished(self, run_dir: Path, stage: str, fingerprint: str) -> bool:
        entry = self.data.get(stage) or {}
        return (
            entry.get("state") == "finished"
            and entry.get("fingerprint") == fingerprint
            and (run_dir / DONE_FILE[stage]).exists()
        )

    def record(self, stage: str, fingerprint: str, seconds: float) -> None:
        self.data[stage] = {
            "fingerprint": fingerprint,
            "state": "finished",
            "seconds": round(seconds, 2),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self._save()

    def start(self, stage: str, fingerprint: str) -> None:
        """Mark a stage as running with this config, so a crash mid-stage is never mistaken for done and a
        rerun with the same config knows the partial output is its own."""
        self.data[stage] = {
            "fingerprint": fingerprint,
            "state": "running",
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.partial")
        tmp.write_text(json.dumps(self.data, indent=2), encoding="utf-8")
        tmp.replace(self.path)


def _data_stage(cfg: RunConfig, run_dir: Path, show_progress: bool, resume: bool) -> dict:
    from emergent.curate.build import build

    return build(cfg, run_dir / "data", show_progress=show_progress)


def _train_stage(cfg: RunConfig, run_dir: Path, show_progress: bool, resume: bool) -> dict:
    from emergent.train.trainer import train

    return train(cfg, run_dir / "data", run_dir / "train", resume=resume, show_progress=show_progress)


def _eval_stage(cfg: RunConfig, run_dir: Path, show_progress: bool, resume: bool) -> dict:
    from emergent.evaluate.run import evaluate

    adapter = run_dir / "train" / "adapter"
    has_adapter = (adapter / "adapter_config.json").exists()
    return evaluate(
        cfg, run_dir / "eval", adapter if has_adapter else None, base_only=not has_adapter, show_progress=show_progress
    )


STAGE_FUNCTIONS: dict[str, Callable[[RunConfig, Path, bool, bool], dict]] = {
    "data": _data_stage,
    "train": _train_stage,
    "eval": _eval_stage,
}


def _prepare_stage_folder(run_dir: Path, stage: str, stale: bool, resume: bool) -> None:
    """Clear outputs made from another config; refuse to guess about an interrupted training."""
    folder = run_dir / stage
    if stage != "train" or not folder.exists() or not any(folder.iterdir()):
        return  # data build and evaluation replace their folders themselves
    if stale:
        shutil.rmtree(folder)  # made from an older config or older data: it would mislead the report
    elif not resume:
        raise FileExistsError(
            f"{folder} holds a training that `emergent run` has no record of finishing (interrupted, or made by "
            "`emergent train`) — `emergent run CONFIG --resume` continues it, "
            "`emergent run CONFIG --fresh` starts the run over"
        )


def run_pipeline(
    cfg: RunConfig,
    *,
    skip: set[str] = frozenset(),
    fresh: bool = False,
    resume: bool = False,
    show_progress: bool = True,
    on_stage: Callable[[str, str], None] | None = None,
    report: bool = True,
    stages: tuple[str, ...] = STAGES,
) -> RunOutcome:
    """Run data → train → eval into cfg.output_dir, reusing finished stages, then write model card and report.

    `skip` names stages not to run at all (their existing outputs are used as they are); `fresh` re-runs
    every stage that is not skipped. A stage interrupted under the same config continues by itself;
    `resume` also continues a training folder this ledger knows nothing about (made by `emergent train`).
    `report=False` leaves out the model card and report (a study's shared data build has neither);
    `stages` limits the run to some stages (a study builds the data once, then trains and evaluates each
    member): the others are neither run nor reported.
    A failing stage stops the run (later stages are marked skipped) and is returned in `outcome.error`; the
    report is still written so what did finish can be inspected.
    """
    from emergent.report.html import write_report
    from emergent.report.model_card import write_model_card

    run_dir = Path(cfg.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ledger = StageLedger(run_dir)
    fps = fingerprints(cfg)
    results: list[StageResult] = []
    upstream_ran = False
    error: Exception | None = None
    for stage in stages:
        if error is not None:
            results.append(StageResult(stage, "skipped", note="an earlier stage failed"))
            continue
        if stage in skip:
            exists = (run_dir / DONE_FILE[stage]).exists()
            results.append(
                StageResult(stage, "skipped", note="--skip" + ("" if exists else f"; no {DONE_FILE[stage]}"))
            )
            continue
        if not fresh and not upstream_ran and ledger.finished(run_dir, stage, fps[stage]):
            results.append(
                StageResult(
                    stage,
                    "reused",
                    seconds=float(ledger.data[stage].get("seconds", 0.0)),
                    note="config unchanged since it finished",
                )
            )
            continue
        if on_stage:
            on_stage(stage, "start")
        entry = ledger.data.get(stage) or {}
        stale = fresh or upstream_ran or (bool(entry) and entry.get("fingerprint") != fps[stage])
        # An interrupted stage with the same config continues where it stopped (the trainer is crash-safe).
        interrupted = not stale and entry.get("state") == "running"
        ledger.start(stage, fps[stage])
        t0 = time.perf_counter()
        try:
            _prepare_stage_folder(run_dir, stage, stale, resume or interrupted)
            summary = STAGE_FUNCTIONS[stage](cfg, run_dir, show_progress, resume or interrupted) or {}
        except Exception as err:  # noqa: BLE001 — reported in the outcome, after a partial report
            results.append(StageResult(stage, "failed", time.perf_counter() - t0, note=f"{type(err).__name__}: {err}"))
            error = err
            continue
        seconds = time.perf_counter() - t0
        ledger.record(stage, fps[stage], seconds)
        note = "continued an interrupted run" if interrupted else ""
        results.append(StageResult(stage, "ran", seconds, summary if isinstance(summary, dict) else {}, note))
        upstream_ran = True
    outcome = RunOutcome(run_dir, results, error=error)
    if not report:
        return outcome
    if (run_dir / "train" / "adapter").is_dir():
        outcome.model_card = write_model_card(run_dir)
    outcome.report = write_report(run_dir)
    return outcome
