"""Reading a run folder for the report and the model card, through the stages' hand-off records.

Any stage may not have run (a run that stopped early): its record is then None, or [] for a log, and
the report shows "n/a". A file that is there is read through its record (emergent.handoff): an older
file lacks some keys (None), and a file that does not fit raises a HandoffError naming the file and the
field, rather than a report that silently shows the wrong figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergent.handoff import (
    EvalResult,
    Heldout,
    Manifest,
    PhaseSummary,
    Primary,
    SourceCounts,
    StepRecord,
    TrainSummary,
    ValidationRecord,
    read_eval_result,
    read_jsonl_records,
    read_manifest,
    read_train_summary,
    read_validation_log,
)

MODELS = ("base", "adapter")


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; unparsable lines (e.g. a line cut by a crash) are skipped."""
    out: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    out.append(obj)
                    if limit and len(out) >= limit:
                        break
    except OSError:
        pass
    return out


def as_float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class RunResults:
    """Everything the report shows, read once from RUN/{data,train,eval}; None where a stage did not run."""

    run_dir: Path
    manifest: Manifest | None = None
    train_summary: TrainSummary | None = None
    metrics: list[StepRecord] = field(default_factory=list)
    eval: EvalResult | None = None
    generations: list[dict[str, Any]] = field(default_factory=list)  # generations.jsonl rows, as written
    adapter_config: dict[str, Any] = field(default_factory=dict)  # PEFT's file, not ours
    validation: list[ValidationRecord] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str((self.manifest and self.manifest.name) or self.run_dir.name)

    @property
    def base_model(self) -> str:
        model = (self.train_summary and self.train_summary.model) or (self.eval and self.eval.model)
        return str(model or self.adapter_config.get("base_model_name_or_path") or "n/a")

    def phases(self) -> list[PhaseSummary]:
        """Training phases in order; [] when training did not run."""
        return self.train_summary.phases if self.train_summary else []

    def sources(self) -> dict[str, SourceCounts]:
        return self.manifest.sources if self.manifest else {}

    def primary(self) -> Primary | None:
        """eval.json's pre-declared primary metric (appropriate-response rate); None for an older eval.json."""
        return self.eval.primary if self.eval else None

    def heldout(self) -> Heldout | None:
        """eval.json's held-out loss of base and adapter; None for a run evaluated without a held-out set."""
        return self.eval.heldout if self.eval else None

    def validation_curve(self) -> list[tuple[float, float]]:
        """(global step, held-out loss) during training, the base model at step 0; [] without a held-out set."""
        points: dict[float, float] = {}
        for rec in self.validation:
            if rec.global_step is not None and rec.loss is not None:
                points[float(rec.global_step)] = rec.loss  # a resumed run may log a step twice: the later wins
        if points:
            return sorted(points.items())
        # No log beside the summary: the base and each phase end still place the curve.
        steps = {p.name: float(p.steps or 0) for p in self.phases()}
        out, at = [], 0.0
        for name, loss, _ in self.validation_columns():
            at += steps.get(name, 0.0) if name != "base" else 0.0
            if loss is not None:
                out.append((at, loss))
        return out

    def validation_columns(self) -> list[tuple[str, float | None, dict[str, float]]]:
        """(column, held-out loss, {bucket: loss}) for the base model, then after each phase; [] when none."""

        def column(name: str, loss: float | None, cats: dict[str, float] | None):
            cats = cats or {}
            return (name, loss, dict(cats)) if loss is not None or cats else None

        def from_log(phase: str) -> tuple[str, float | None, dict[str, float]] | None:
            # Mid-phase records (training.validation.every_steps) come before the phase end: take the last.
            recs = [r for r in self.validation if r.phase == phase]
            if not recs:
                return None
            last = max(recs, key=lambda r: r.global_step or 0)
            return column(phase, last.loss, last.by_category)

        summary = self.train_summary.validation if self.train_summary else None
        base = column("base", summary.base.loss, summary.base.by_category) if summary and summary.base else None
        phases = self.phases()
        names = [p.name for p in phases] or list(dict.fromkeys(r.phase for r in self.validation if r.phase != "base"))
        by_name = {p.name: p for p in phases}
        after = [
            (column(n, by_name[n].validation_loss, by_name[n].validation_by_category) if n in by_name else None)
            or from_log(n)
            for n in names
        ]
        return [c for c in [base or from_log("base"), *after] if c is not None]

    def contexts(self) -> list[str]:
        """The evaluation contexts in a stable order (per_context keys of either model)."""
        seen: list[str] = []
        ranges = self.eval.range if self.eval else None
        for m in MODELS:
            side = ranges.sides.get(m) if ranges else None
            for k in side.per_context if side else {}:
                if k not in seen:
                    seen.append(k)
        return seen


def _optional(path: Path, read: Any) -> Any:
    return read(path) if path.is_file() else None


def load_run(run_dir: Path) -> RunResults:
    """Read RUN/data/manifest.json, RUN/train/*, RUN/eval/* — whichever exist (HandoffError for one that does
    not fit its record)."""
    run_dir = Path(run_dir)
    try:
        adapter_cfg = json.loads((run_dir / "train" / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        adapter_cfg = {}
    return RunResults(
        run_dir=run_dir,
        manifest=_optional(run_dir / "data" / "manifest.json", read_manifest),
        train_summary=_optional(run_dir / "train" / "train_summary.json", read_train_summary),
        metrics=read_jsonl_records(run_dir / "train" / "metrics.jsonl", StepRecord),
        eval=_optional(run_dir / "eval" / "eval.json", read_eval_result),
        generations=read_jsonl(run_dir / "eval" / "generations.jsonl"),
        adapter_config=adapter_cfg if isinstance(adapter_cfg, dict) else {},
        validation=read_validation_log(run_dir / "train" / "validation.jsonl"),
    )
