"""Reading a run folder for the report and the model card: every file and key is optional.

A run that stopped early, or a stage whose output gained or lost a key, must still give a report
with "n/a" where something is missing, so every accessor here tolerates absence and odd shapes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODELS = ("base", "adapter")


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when the file is absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; unparsable lines (e.g. a line cut by a crash) are skipped."""
    out: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
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


def dig(obj: Any, *keys: str | int, default: Any = None) -> Any:
    """obj[k1][k2]..., or `default` as soon as a level is missing."""
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and -len(obj) <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def first(obj: Any, *names: str, default: Any = None) -> Any:
    """The first of several alternative keys present in a dict (stages name things slightly differently)."""
    if isinstance(obj, dict):
        for n in names:
            if obj.get(n) is not None:
                return obj[n]
    return default


def as_float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class Estimate:
    """A metric with its bootstrap 95 % interval (lo/hi None when not given)."""

    mean: float | None
    lo: float | None = None
    hi: float | None = None

    def text(self, digits: int = 3) -> str:
        if self.mean is None:
            return "n/a"
        s = f"{self.mean:.{digits}f}"
        if self.lo is not None and self.hi is not None:
            s += f" [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"
        return s


def estimate(v: Any) -> Estimate:
    """Accept 0.7, {"mean": 0.7, "ci95": [lo, hi]}, {"value": ..}, {"estimate": .., "ci_low": .., "ci_high": ..}."""
    if isinstance(v, dict):
        mean = as_float(first(v, "mean", "value", "estimate", "score", "rate", "accuracy"))
        ci = first(v, "ci95", "ci", "confidence_interval")
        lo = hi = None
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            lo, hi = as_float(ci[0]), as_float(ci[1])
        elif isinstance(ci, dict):
            lo, hi = as_float(first(ci, "lo", "low", "lower")), as_float(first(ci, "hi", "high", "upper"))
        else:
            lo, hi = as_float(first(v, "ci_low", "lo", "lower")), as_float(first(v, "ci_high", "hi", "upper"))
        return Estimate(mean, lo, hi)
    return Estimate(as_float(v))


def confusion(v: Any) -> tuple[list[str], list[str], list[list[float]]] | None:
    """(rows, cols, counts) from {"labels": [...], "matrix": [[..]]} or {expected: {predicted: n}}."""
    if not isinstance(v, dict) or not v:
        return None
    labels = first(v, "labels", "contexts")
    matrix = first(v, "matrix", "rows_expected_cols_predicted", "counts")
    if isinstance(labels, list) and isinstance(matrix, list):
        cols = first(v, "predicted_labels", "columns", default=labels)
        return [str(x) for x in labels], [str(x) for x in cols], [[as_float(c) or 0.0 for c in row] for row in matrix]
    if all(isinstance(x, dict) for x in v.values()):
        rows = list(v)
        cols = list(rows) + sorted({c for r in v.values() for c in r} - set(rows))
        return rows, cols, [[as_float(v[r].get(c)) or 0.0 for c in cols] for r in rows]
    return None


@dataclass
class RunResults:
    """Everything the report shows, read once from RUN/{data,train,eval}."""

    run_dir: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    train_summary: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    eval: dict[str, Any] = field(default_factory=dict)
    generations: list[dict[str, Any]] = field(default_factory=list)
    adapter_config: dict[str, Any] = field(default_factory=dict)
    validation: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(first(self.manifest, "name") or first(self.train_summary, "name", "run_name") or self.run_dir.name)

    @property
    def base_model(self) -> str:
        model = first(self.train_summary, "model", "base_model")
        if isinstance(model, dict):
            model = first(model, "name", "name_or_path", "path")
        model = model or first(self.eval, "model", "base_model")
        if isinstance(model, dict):
            model = first(model, "name", "name_or_path", "path")
        return str(model or self.adapter_config.get("base_model_name_or_path") or "n/a")

    def phases(self) -> list[dict[str, Any]]:
        """Training phases in order (train_summary.phases), each a dict; [] when training did not run."""
        phases = self.train_summary.get("phases")
        if isinstance(phases, dict):
            phases = [{"name": k, **v} for k, v in phases.items() if isinstance(v, dict)]
        return [p for p in phases or [] if isinstance(p, dict)]

    def sources(self) -> dict[str, dict[str, Any]]:
        src = self.manifest.get("sources")
        if isinstance(src, list):
            src = {str(s.get("name", i)): s for i, s in enumerate(src) if isinstance(s, dict)}
        return {k: v for k, v in (src or {}).items() if isinstance(v, dict)}

    def eval_metric(self, metric: str, model: str, *path: str) -> Estimate:
        """eval.json[metric][model][...path] as an Estimate; `path` defaults to the metric's headline."""
        node = dig(self.eval, metric, model)
        if path:
            return estimate(dig(node, *path))
        if isinstance(node, dict) and metric == "collapse":
            return estimate(first(node, "context_predictability", "predictability", "mean"))
        return estimate(node)

    def primary(self) -> dict[str, Any]:
        """eval.json's pre-declared primary metric (appropriate-response rate); {} for an older eval.json."""
        node = self.eval.get("primary")
        return node if isinstance(node, dict) else {}

    def heldout(self) -> dict[str, Any]:
        """eval.json's held-out loss of base and adapter; {} for a run evaluated without a held-out set."""
        node = self.eval.get("heldout")
        return node if isinstance(node, dict) else {}

    def validation_curve(self) -> list[tuple[float, float]]:
        """(global step, held-out loss) during training, the base model at step 0; [] without a held-out set."""
        points: dict[float, float] = {}
        for rec in self.validation:
            step, loss = as_float(rec.get("global_step")), as_float(rec.get("loss"))
            if step is not None and loss is not None:
                points[step] = loss  # a resumed run may log a step twice: the later record wins
        if points:
            return sorted(points.items())
        # No log beside the summary: the base and each phase end still place the curve.
        steps = {str(p.get("name")): as_float(p.get("steps")) or 0.0 for p in self.phases()}
        out, at = [], 0.0
        for name, loss, _ in self.validation_columns():
            at += steps.get(name, 0.0) if name != "base" else 0.0
            if loss is not None:
                out.append((at, loss))
        return out

    def validation_columns(self) -> list[tuple[str, float | None, dict[str, float]]]:
        """(column, held-out loss, {bucket: loss}) for the base model, then after each phase; [] when none."""

        def column(name: str, loss: Any, cats: Any) -> tuple[str, float | None, dict[str, float]] | None:
            cats = cats if isinstance(cats, dict) else {}
            by_bucket = {str(k): f for k, v in cats.items() if (f := as_float(v)) is not None}
            return (name, as_float(loss), by_bucket) if as_float(loss) is not None or by_bucket else None

        def from_log(phase: str) -> tuple[str, float | None, dict[str, float]] | None:
            # Mid-phase records (training.validation.every_steps) come before the phase end: take the last.
            recs = [r for r in self.validation if str(r.get("phase")) == phase]
            if not recs:
                return None
            last = max(recs, key=lambda r: as_float(r.get("global_step")) or 0.0)
            return column(phase, last.get("loss"), last.get("by_category"))

        summary_base = dig(self.train_summary, "validation", "base")
        base = column("base", dig(summary_base, "loss"), dig(summary_base, "by_category")) or from_log("base")
        phases = self.phases()
        names = [str(p.get("name")) for p in phases] or list(
            dict.fromkeys(str(r.get("phase")) for r in self.validation if r.get("phase") != "base")
        )
        by_name = {str(p.get("name")): p for p in phases}
        after = [
            column(n, dig(by_name, n, "validation_loss"), dig(by_name, n, "validation_by_category")) or from_log(n)
            for n in names
        ]
        return [c for c in [base, *after] if c is not None]

    def contexts(self) -> list[str]:
        """The evaluation contexts in a stable order (per_context keys of either model)."""
        seen: list[str] = []
        for m in MODELS:
            for k in dig(self.eval, "range", m, "per_context", default={}) or {}:
                if k not in seen:
                    seen.append(k)
        return seen


def load_run(run_dir: Path) -> RunResults:
    """Read RUN/data/manifest.json, RUN/train/*, RUN/eval/* — whichever exist."""
    run_dir = Path(run_dir)
    adapter_cfg = read_json(run_dir / "train" / "adapter" / "adapter_config.json") or {}
    return RunResults(
        run_dir=run_dir,
        manifest=read_json(run_dir / "data" / "manifest.json") or {},
        train_summary=read_json(run_dir / "train" / "train_summary.json") or {},
        metrics=read_jsonl(run_dir / "train" / "metrics.jsonl"),
        eval=read_json(run_dir / "eval" / "eval.json") or {},
        generations=read_jsonl(run_dir / "eval" / "generations.jsonl"),
        adapter_config=adapter_cfg,
        validation=read_jsonl(run_dir / "train" / "validation.jsonl"),
    )
