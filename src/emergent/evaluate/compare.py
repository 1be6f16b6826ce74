"""`emergent compare RUN_DIR ...`: several evaluated runs side by side on the same suite items.

Every (run, side) of the runs' eval.json is a system: the adapter side is named after its run folder,
the other sides (base, prompted, no_history, ...) after the side. Systems whose replies are identical
on every item (the base model of several runs of one study) are shown once. Each figure is computed
again from generations.jsonl with the functions that made eval.json — the primary metric by
`primary.primary` (which re-runs each item's checks), the register metrics by `run.side_metrics`, the
checked dialogues by `dialogue.verdicts` — so all systems are scored by one checker with one bootstrap seed. Differences are system − reference over
the items both answered; the family of (system × metric) tests is Holm-corrected together.

Runs are refused when they were evaluated on different suites, decodings or base models.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from emergent.evaluate import dialogue as D
from emergent.evaluate import metrics as M
from emergent.evaluate import primary as P
from emergent.evaluate import stats
from emergent.evaluate.run import read_generations
from emergent.evaluate.suite import DIALOGUE_KINDS, Item, Suite, load_suite

SCHEMA_VERSION = 1
# `lr10-seed0`, `lr10_seed1`, `lr10.seed2`: the study's folder names (<variant>-seed<k>).
SEED_SUFFIX = re.compile(r"^(?P<variant>.+?)[-_.]seed[-_]?(?P<seed>\d+)$")
# The secondary metrics of eval.json: key, label, +1 when higher is better (-1 when lower is).
SECONDARY = {
    "fit": ("register fit (on topic, own words)", 1),
    "consistency": ("consistency (min over turns)", 1),
    "range": ("context hit rate", 1),
    "transitions": ("transition: turns to switch", -1),
    "collapse": ("context predictability", 1),
    "depth": ("depth: Spearman(complexity, words)", 1),
    "dialogues": ("checked dialogues: pass rate", 1),
}
# After the label of a figure a control reaches (metrics.REACHED_BY_CONTROLS): shown, never tested.
REACHED_LABEL = " (not tested: reached by a control)"
# eval.json's suite summary is compared without `files`: "default" and a path to the same files are
# one suite (`eval score --config` records the config's path), and the item ids and prompts are compared besides.
SUITE_FILES_KEY = "files"


class CompareError(ValueError):
    """Runs that cannot be compared; the message names the runs and what differs."""


class Figure(BaseModel):
    mean: float | None = None
    ci95: list[float | None] = Field(default_factory=lambda: [None, None])
    n: int = 0


class PhaseCost(BaseModel):
    name: str
    steps: int | None = None
    tokens: int | None = None
    seconds: float | None = None


class TrainingCost(BaseModel):
    """What training the adapter cost, from RUN/train/train_summary.json."""

    steps: int | None = None
    tokens: int | None = None
    seconds: float | None = None  # the optimizer steps'
    replay_seconds: float | None = None  # generating training.replay's base replies, before the phases' steps
    phases: list[PhaseCost] = Field(default_factory=list)


class MetricInfo(BaseModel):
    label: str
    higher_is_better: bool = True


class SystemFigures(BaseModel):
    """One system's figures: the primary metric (overall, graded, per context) and each secondary metric."""

    label: str
    side: str
    runs: list[str]  # every run whose replies on this side were identical
    primary: Figure
    missing: int  # checked items without a reply
    graded: Figure
    per_context: dict[str, Figure]
    secondary: dict[str, Figure]
    dialogue_kinds: dict[str, Figure] = Field(default_factory=dict)  # pass rate per kind of checked dialogue
    heldout_loss: Figure | None = None  # n = held-out conversations
    training: TrainingCost | None = None


class Difference(BaseModel):
    """system − reference on one metric, over the items both answered, with its test; `system` is a seed group's
    name for the group's pooled primary difference."""

    system: str
    reference: str
    metric: str  # "primary" or a SECONDARY key
    mean: float | None
    ci95: list[float | None]
    n: int
    test: str  # mcnemar_exact (pass/fail), paired_bootstrap, or seeds_and_items_bootstrap (a seed group)
    p: float | None
    p_holm: float | None = None
    verdict: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


class SeedGroup(BaseModel):
    """Runs of one variant trained with different seeds: the spread of their adapters' primary metric."""

    name: str
    runs: list[str]
    how: str  # "seed suffix" or "--group"
    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    n: int = 0


class RunInfo(BaseModel):
    name: str
    path: str
    sides: list[str]
    device: str | None = None
    precision: str | None = None


class Comparison(BaseModel):
    """compare.json: every figure of `emergent compare`, read by the page and the markdown table."""

    schema_version: int = SCHEMA_VERSION
    metric: str = P.NAME
    definition: str = P.DEFINITION
    reference: str
    samples: int
    seed: int
    correction: str = "holm"
    alpha: float = stats.ALPHA
    min_n_for_verdict: int = stats.MIN_N
    model: str | None
    decoding: dict[str, Any] | None
    suite: dict[str, Any]
    contexts: list[str]
    metrics: dict[str, MetricInfo]
    runs: list[RunInfo]
    systems: list[SystemFigures]
    differences: list[Difference]
    groups: list[SeedGroup]
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


@dataclass
class EvaluatedRun:
    """One run folder's evaluation: eval.json, its generations by side, and its training summary."""

    name: str
    path: Path
    eval: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]
    train: dict[str, Any] | None

    @property
    def sides(self) -> list[str]:
        return [s for s in self.eval.get("sides") or list(self.rows) if s in self.rows]


@dataclass
class System:
    label: str
    side: str
    runs: list[EvaluatedRun]
    rows: list[dict[str, Any]]

    @property
    def run_names(self) -> list[str]:
        return [r.name for r in self.runs]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise CompareError(f"{path}: not JSON ({err}) — re-run the stage that wrote it") from None
    if not isinstance(data, dict):
        raise CompareError(f"{path}: expected a JSON object")
    return data


def load_evaluated_run(path: Path) -> EvaluatedRun:
    """A run folder (RUN/eval/eval.json) or an eval folder (eval.json beside generations.jsonl)."""
    path = Path(path)
    folder = path / "eval" if (path / "eval" / "eval.json").is_file() else path
    if not (folder / "eval.json").is_file():
        raise CompareError(f"{path}: no eval/eval.json — evaluate the run first (emergent eval CONFIG or emergent run)")
    gen = folder / "generations.jsonl"
    if not gen.is_file():
        raise CompareError(f"{path}: no generations.jsonl beside {folder / 'eval.json'} — evaluate the run again")
    try:
        rows = read_generations(gen)
    except ValueError as err:
        raise CompareError(str(err)) from None
    run_dir = path.parent if folder == path and path.resolve().name == "eval" else path  # RUN/eval given
    summary = run_dir / "train" / "train_summary.json"
    train = _read_json(summary) if summary.is_file() else None
    return EvaluatedRun(run_dir.resolve().name, path, _read_json(folder / "eval.json"), rows, train)


def _items(run: EvaluatedRun) -> set[tuple[str, int, str]]:
    return {(r["id"], r["turn"], r.get("prompt") or "") for rows in run.rows.values() for r in rows}


def _differs(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        return ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys)
    return f"{a!r} vs {b!r}"


def check_comparable(runs: list[EvaluatedRun]) -> None:
    """Refuse runs evaluated on other suites, decodings or base models: one line naming the runs and what differs."""
    first = runs[0]
    for run in runs[1:]:
        pair = f"{first.name} and {run.name}"
        if run.eval.get("model") != first.eval.get("model"):
            raise CompareError(
                f"cannot compare {pair}: different base models ({_differs(first.eval.get('model'), run.eval.get('model'))})"
            )
        if run.eval.get("decoding") != first.eval.get("decoding"):
            raise CompareError(
                f"cannot compare {pair}: different decodings ({_differs(first.eval.get('decoding'), run.eval.get('decoding'))})"
            )
        sa = {k: v for k, v in (first.eval.get("suite") or {}).items() if k != SUITE_FILES_KEY}
        sb = {k: v for k, v in (run.eval.get("suite") or {}).items() if k != SUITE_FILES_KEY}
        if sa != sb:
            raise CompareError(f"cannot compare {pair}: different suites ({_differs(sa, sb)})")
        ia, ib = _items(first), _items(run)
        if ia != ib:
            ids_a, ids_b = {i[0] for i in ia}, {i[0] for i in ib}
            only = sorted(ids_a ^ ids_b)
            what = (
                f"{len(ids_a - ids_b)} items only in {first.name}, {len(ids_b - ids_a)} only in {run.name}, e.g. {only[0]}"
                if only
                else f"the same ids with other prompts, e.g. {sorted(i[0] for i in ia ^ ib)[0]}"
            )
            raise CompareError(f"cannot compare {pair}: different suite items ({what})")


def _suite_files(files: list[str]) -> list[str]:
    """eval.json's suite files; `eval score --config` records the run config there, whose eval.suites are meant."""
    import yaml

    out = []
    for f in files:
        p = Path(f)
        if f != "default" and p.suffix in (".yaml", ".yml") and p.is_file():
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            if isinstance(data, dict) and not {"prompts", "consistency", "transitions"} & set(data):
                from emergent.config import load_config

                out += load_config(p).eval.suites
                continue
        out.append(f)
    return out


def run_suite(run: EvaluatedRun) -> Suite:
    """The suite loaded from the files the run's eval.json names."""
    files = (run.eval.get("suite") or {}).get("files") or ["default"]
    try:
        return load_suite(_suite_files(files))
    except (FileNotFoundError, ValueError) as err:
        raise CompareError(f"{run.path}: cannot load the suite {files} named in eval.json ({err})") from None


def suite_items(run: EvaluatedRun, suite: Suite) -> list[Item]:
    """The items of `suite` the run answered, in suite order; refused when a reply's prompt is not the suite's."""
    files = (run.eval.get("suite") or {}).get("files") or ["default"]
    by_id = {it.id: it for it in suite.items}
    for rows in run.rows.values():
        for r in rows:
            it = by_id.get(r["id"])
            if it is None or r["turn"] >= len(it.turns) or ("prompt" in r and r["prompt"] != it.turns[r["turn"]]):
                raise CompareError(
                    f"{run.path}: generations item {r['id']} turn {r['turn']} is not in the suite files {files} as they "
                    "are now — compare runs evaluated on the current suite"
                )
    answered = {r["id"] for rows in run.rows.values() for r in rows}
    return [it for it in suite.items if it.id in answered]


def _digest(rows: list[dict[str, Any]]) -> str:
    replies = sorted((r["id"], r["turn"], r.get("response") or "") for r in rows)
    return hashlib.sha256(json.dumps(replies).encode()).hexdigest()


def _trained(side: str) -> bool:
    """The adapter and the sides made from it (e.g. adapter_no_history): one system per run."""
    return side == "adapter" or side.startswith("adapter_")


def systems_of(runs: list[EvaluatedRun]) -> tuple[list[System], list[str], list[str]]:
    """(systems, notes, warnings): one system per distinct (side, replies); identical ones shown once.

    An adapter is named after its run, a side made from it after its run and side (`lr10-seed0
    adapter_no_history`), any other side after the side, or after the side and its runs where runs differ.
    """
    groups: dict[tuple[str, str], list[EvaluatedRun]] = {}
    for run in runs:
        for side in run.sides:
            groups.setdefault((side, _digest(run.rows[side])), []).append(run)
    notes, warnings = [], []
    per_side: dict[str, int] = {}
    for side, _ in groups:
        per_side[side] = per_side.get(side, 0) + 1
    systems = []
    for (side, _), members in groups.items():
        names = [r.name for r in members]
        if side == "adapter":
            label = names[0]
        elif _trained(side):
            label = f"{names[0]} {side}"
        elif per_side[side] == 1:
            label = side
        else:
            label = f"{side} ({', '.join(names)})"
        systems.append(System(label, side, members, members[0].rows[side]))
        if len(members) > 1:
            notes.append(f"{side} of {', '.join(names)}: identical replies on every item, shown once as {label}")
    for side, k in per_side.items():
        if not _trained(side) and k > 1:
            split = [s.label for s in systems if s.side == side]
            warnings.append(
                f"the {side} replies differ between runs ({', '.join(split)}) — another precision, device or model "
                f"files? Each is kept, and a system is compared with the {side} of its own run"
            )
    return systems, notes, warnings


def seed_of(name: str) -> int | None:
    m = SEED_SUFFIX.match(name)
    return int(m["seed"]) if m else None


def seed_groups(names: list[str], explicit: dict[str, list[str]] | None = None) -> dict[str, tuple[list[str], str]]:
    """{group: (run names, how)}: the --group ones, then runs whose names differ only by a seed suffix."""
    out: dict[str, tuple[list[str], str]] = {}
    grouped: set[str] = set()
    for group, members in (explicit or {}).items():
        unknown = [m for m in members if m not in names]
        if unknown:
            raise CompareError(f"--group {group}: {', '.join(unknown)} is not among the runs ({', '.join(names)})")
        out[group] = (list(members), "--group")
        grouped |= set(members)
    by_variant: dict[str, list[str]] = {}
    for name in names:
        m = SEED_SUFFIX.match(name)
        if m and name not in grouped:
            by_variant.setdefault(m["variant"], []).append(name)
    for variant, members in by_variant.items():
        if len(members) > 1 and variant not in out:
            out[variant] = (members, "seed suffix")
    return out


def _reference_for(system: System, candidates: list[System]) -> System | None:
    """The reference a system is compared with: its own run's when the reference is split by run, else the same seed."""
    if system in candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    same_run = [c for c in candidates if set(c.run_names) & set(system.run_names)]
    seed = seed_of(system.runs[0].name)
    same_seed = [c for c in candidates if seed is not None and seed_of(c.runs[0].name) == seed]
    return (same_run or same_seed or candidates)[0]


def _figure(m: dict[str, Any] | None) -> Figure:
    m = m or {}
    return Figure(mean=m.get("mean"), ci95=list(m.get("ci95") or [None, None]), n=int(m.get("n") or 0))


def _styled(system: System, known: list[str], families: dict[str, str]) -> list[dict[str, Any]]:
    """The rows the register metrics read: contexts the style scorer knows, each with its style scores."""
    from emergent.evaluate.run import STYLE_KEYS, STYLED_KINDS, add_fit, add_style

    rows = [r for r in system.rows if r.get("kind", "prompt") in STYLED_KINDS and r.get("context") in known]
    # Fit follows the current rule even where a file carries an older verdict.
    if any(not all(k in r for k in STYLE_KEYS) for r in rows):
        from emergent.evaluate.scorer import StyleScorer

        scorer = StyleScorer((system.runs[0].eval.get("scorer") or {}).get("prototypes") or "default")
        return add_style(rows, scorer, families)
    return add_fit(rows, set(known), families)


def _secondary_scores(rows: list[dict[str, Any]], seed: int) -> dict[str, dict[str, float]]:
    """Per item, the score each paired secondary metric averages (depth is a correlation: no per-item score)."""
    trans = M.transition_scores(rows)
    correct, _, _ = M.context_predictability(rows, seed)
    return {
        "range": M.range_scores(rows),
        "fit": M.fit_scores(rows),
        "consistency": M.consistency_scores(rows),
        "transitions": {k: v["turns_to_switch"] for k, v in trans.items()},
        "collapse": {k: float(v) for k, v in correct.items()},
    }


def _training(train: dict[str, Any] | None) -> TrainingCost | None:
    if not train:
        return None
    phases = [
        PhaseCost(name=str(p.get("name")), steps=p.get("steps"), tokens=p.get("tokens"), seconds=p.get("seconds"))
        for p in train.get("phases") or []
        if isinstance(p, dict)
    ]
    tokens = [p.tokens for p in phases if p.tokens is not None]
    replay = [p["replay"]["seconds"] for p in train.get("phases") or [] if isinstance(p, dict) and p.get("replay")]
    return TrainingCost(
        steps=train.get("total_steps"),
        tokens=sum(tokens) if tokens else None,
        seconds=train.get("seconds"),
        replay_seconds=round(sum(replay), 1) if replay else None,
        phases=phases,
    )


def _heldout(run: EvaluatedRun, side: str) -> Figure | None:
    h = run.eval.get("heldout") or {}
    loss = (h.get(side) or {}).get("loss") if isinstance(h.get(side), dict) else None
    return Figure(mean=loss, n=int(h.get("examples") or 0)) if loss is not None else None


def _system_heldout(s: System) -> Figure | None:
    """The held-out loss of a system; none for a system shown once for several runs whose losses differ
    (their builds held other validation sets, so no one figure belongs to it)."""
    figures = {f.mean: f for r in s.runs if (f := _heldout(r, s.side)) is not None}
    return next(iter(figures.values())) if len(figures) == 1 else None


def heldout_warning(runs: list[EvaluatedRun]) -> str | None:
    """A line when the runs' base held-out losses differ: their validation sets differ, so held-out losses
    compare within a run only."""
    base = {r.name: f.mean for r in runs if (f := _heldout(r, "base")) is not None}
    if len(set(base.values())) < 2:
        return None
    each = ", ".join(f"{v:.3f} in {k}" for k, v in base.items())
    return (
        f"the base model's held-out loss differs between runs ({each}): their builds held other validation "
        "sets, so compare each adapter's held-out loss with its own run's base (eval.json), not across runs"
    )


def _primary_difference(items: list[Item], ref: System, sys: System, n: int, seed: int) -> Difference:
    """The macro difference with primary.py's stratified CI; the exact McNemar test over every shared item."""
    head, _, verdicts = P.primary(items, {"base": ref.rows, "adapter": sys.rows}, n, seed)
    d = head.get("difference") or {}
    b, a = verdicts["base"], verdicts["adapter"]
    shared = [i for i in b if i in a]
    t = stats.mcnemar_exact([b[i]["passed"] for i in shared], [a[i]["passed"] for i in shared])
    return Difference(
        system=sys.label,
        reference=ref.label,
        metric="primary",
        mean=d.get("mean"),
        ci95=list(d.get("ci95") or [None, None]),
        n=len(shared),
        test=t["test"],
        p=t["p"] if shared else None,
        detail={
            "effect": t["adapter_only"] - t["base_only"],
            "system_only": t["adapter_only"],
            "reference_only": t["base_only"],
            "per_context": {c: v["mean"] for c, v in (d.get("per_context") or {}).items()},
        },
    )


def _dialogue_difference(
    ref_v: dict[str, Any], sys_v: dict[str, Any], shared: list[str], ref: System, sys: System, n: int, seed: int
) -> Difference:
    """Checked-dialogue pass rate, system − reference over the dialogues both answered: paired bootstrap CI, McNemar p."""
    b, a = [ref_v[i]["passed"] for i in shared], [sys_v[i]["passed"] for i in shared]
    t = stats.mcnemar_exact(b, a)
    d = stats.paired_bootstrap([float(x) - float(y) for x, y in zip(a, b, strict=True)], n, seed)
    return Difference(
        system=sys.label,
        reference=ref.label,
        metric="dialogues",
        mean=d["mean"],
        ci95=d["ci95"],
        n=len(shared),
        test=t["test"],
        p=t["p"],
        detail={
            "effect": t["adapter_only"] - t["base_only"],
            "system_only": t["adapter_only"],
            "reference_only": t["base_only"],
        },
    )


def _load_runs(run_dirs: list[Path]) -> list[EvaluatedRun]:
    if not run_dirs:
        raise CompareError("no runs given — pass one or more run folders, e.g. runs/lr10-seed0 runs/lr10-seed1")
    runs = [load_evaluated_run(p) for p in run_dirs]
    names = [r.name for r in runs]
    for r in runs:  # the same folder name under two parents: name them by parent too
        if names.count(r.name) > 1:
            r.name = f"{r.path.resolve().parent.name}/{r.name}"
    if len({r.name for r in runs}) != len(runs):
        raise CompareError(f"a run is given twice: {', '.join(str(p) for p in run_dirs)}")
    check_comparable(runs)
    return runs


def _reference_candidates(
    reference: str, systems: list[System], runs: list[EvaluatedRun], group_runs: dict[str, tuple[list[str], str]]
) -> list[System]:
    """The systems `reference` names: a label, a side, a seed group or a variant trained with one seed."""
    candidates = [s for s in systems if s.label == reference] or [s for s in systems if s.side == reference]
    if not candidates:  # a group, or a variant trained with one seed (the study's `reference: <variant>`)
        members = set(group_runs[reference][0]) if reference in group_runs else set()
        members |= {r.name for r in runs if (m := SEED_SUFFIX.match(r.name)) and m["variant"] == reference}
        candidates = [s for s in systems if s.side == "adapter" and set(s.run_names) & members]
    if not candidates:
        raise CompareError(
            f"--reference {reference}: no such system — one of {', '.join(s.label for s in systems)}"
            + (f" or a group ({', '.join(group_runs)})" if group_runs else "")
        )
    return candidates


def _pass_rate(verdicts: list[dict[str, Any]], samples: int, seed: int) -> Figure:
    return _figure(M.bootstrap([float(v["passed"]) for v in verdicts], samples, seed))


def _system_figures(
    s: System,
    p: dict[str, Any],
    dialogues: dict[str, Any],
    styled: list[dict],
    known: list[str],
    samples: int,
    seed: int,
) -> SystemFigures:
    """One system's primary figures (`p`: its part of primary()), secondary metrics, dialogues, cost."""
    from emergent.evaluate.run import side_metrics

    side_m = side_metrics(styled, known, samples, seed)
    return SystemFigures(
        label=s.label,
        side=s.side,
        runs=s.run_names,
        primary=_figure(p),
        missing=p.get("missing", 0),
        graded=_figure(p.get("graded")),
        per_context={c: _figure(v) for c, v in (p.get("per_context") or {}).items()},
        secondary={
            "range": _figure(side_m["range"]),
            "fit": _figure(side_m["range"]["fit"]),
            "consistency": _figure(side_m["consistency"]),
            "transitions": _figure(side_m["transitions"]),
            "collapse": _figure(side_m["collapse"]["context_predictability"]),
            "depth": _figure(side_m["depth"]),
            "dialogues": _pass_rate(list(dialogues.values()), samples, seed),
        },
        dialogue_kinds={
            k: _pass_rate(vs, samples, seed)
            for k in DIALOGUE_KINDS
            if (vs := [v for v in dialogues.values() if v["kind"] == k])
        },
        heldout_loss=_system_heldout(s),
        training=_training(s.runs[0].train) if s.side == "adapter" else None,
    )


def _secondary_differences(
    ref: System, s: System, styled: dict[str, list[dict]], samples: int, seed: int
) -> list[Difference]:
    rs, ss = _secondary_scores(styled[ref.label], seed), _secondary_scores(styled[s.label], seed)
    out = []
    for metric, scores in ss.items():
        if metric in M.REACHED_BY_CONTROLS:  # a figure a control reaches is no evidence either way
            continue
        keys = sorted(set(rs[metric]) & set(scores))
        if not keys:  # e.g. a no-history side, which answers the checked dialogues only
            continue
        t = stats.paired_bootstrap([scores[k] - rs[metric][k] for k in keys], samples, seed)
        out.append(
            Difference(
                system=s.label,
                reference=ref.label,
                metric=metric,
                mean=t["mean"],
                ci95=t["ci95"],
                n=t["n"],
                test=t["test"],
                p=t["p"],
                detail={"effect": (t["mean"] or 0) * SECONDARY[metric][1]},
            )  # fmt: skip
        )
    return out


def _differences(
    items: list[Item],
    systems: list[System],
    candidates: list[System],
    styled: dict[str, list[dict]],
    dialogues: dict[str, dict[str, Any]],
    samples: int,
    seed: int,
) -> list[Difference]:
    """Every system against its reference on the items both answered (not yet corrected: `_correct`)."""
    diffs: list[Difference] = []
    for s in systems:
        ref = _reference_for(s, candidates)
        if ref is None:
            continue
        diffs.append(_primary_difference(items, ref, s, samples, seed))
        shared = sorted(set(dialogues[ref.label]) & set(dialogues[s.label]))
        if shared:
            diffs.append(_dialogue_difference(dialogues[ref.label], dialogues[s.label], shared, ref, s, samples, seed))
        diffs += _secondary_differences(ref, s, styled, samples, seed)
    return diffs


def _group_differences(
    group_runs: dict[str, tuple[list[str], str]],
    systems: list[System],
    candidates: list[System],
    verdicts: dict[str, dict[str, dict[str, Any]]],
    samples: int,
    seed: int,
) -> list[Difference]:
    """Per seed group, the recipe against the reference: each seed paired with its own reference on the items
    every pair answered, the seeds and the items resampled (stats.seeds_and_items_bootstrap)."""
    out = []
    for group, (members, _) in group_runs.items():
        pairs = [
            (s, ref)
            for s in systems
            if s.side == "adapter" and set(s.run_names) & set(members) and (ref := _reference_for(s, candidates))
        ]
        if len(pairs) < 2:  # one seed: its own difference says it all
            continue
        first = verdicts[pairs[0][0].label]
        ids = [i for i in first if all(i in verdicts[s.label] and i in verdicts[r.label] for s, r in pairs)]
        diffs = [
            [float(verdicts[s.label][i]["passed"]) - float(verdicts[r.label][i]["passed"]) for i in ids]
            for s, r in pairs
        ]
        t = stats.seeds_and_items_bootstrap(np.array(diffs), [first[i]["context"] for i in ids], samples, seed)
        refs = list(dict.fromkeys(r.label for _, r in pairs))
        out.append(
            Difference(
                system=group,
                reference=refs[0] if len(refs) == 1 else "each seed's own reference",
                metric="primary",
                mean=t["mean"],
                ci95=t["ci95"],
                n=t["n"],
                test=t["test"],
                p=t["p"],
                detail={
                    "effect": t["mean"] or 0.0,
                    "seeds": t["seeds"],
                    "systems": [s.label for s, _ in pairs],
                    "references": refs,
                    "per_context": t["per_context"],
                },
            )
        )
    return out


def _correct(diffs: list[Difference]) -> None:
    """Holm over the whole family (every system × metric, and every seed group), and each test's verdict."""
    tests = [{"p": d.p, "n": d.n, "effect": d.detail["effect"]} for d in diffs]
    for d, t in zip(diffs, stats.verdicts(tests), strict=True):
        d.p_holm = t["p_holm"]
        d.verdict = t["verdict"].replace("adapter ", "")  # better / worse than the reference


def _seed_groups(group_runs: dict[str, tuple[list[str], str]], figures: list[SystemFigures]) -> list[SeedGroup]:
    """Per group of seeds: the adapters' primary metric, mean and spread."""
    out = []
    for group, (members, how) in group_runs.items():
        means = [
            f.primary.mean
            for f in figures
            if f.side == "adapter" and set(f.runs) & set(members) and f.primary.mean is not None
        ]
        g = SeedGroup(name=group, runs=members, how=how, n=len(means))
        if means:
            arr = np.array(means)
            g.mean, g.min, g.max = round(float(arr.mean()), 4), round(float(arr.min()), 4), round(float(arr.max()), 4)
            g.sd = round(float(arr.std(ddof=1)), 4) if arr.size > 1 else None
        out.append(g)
    return out


def compare_runs(
    run_dirs: list[Path],
    reference: str = "base",
    groups: dict[str, list[str]] | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Load, check and compare evaluated runs; raises CompareError with one line when they cannot be compared."""
    runs = _load_runs(run_dirs)
    suite = run_suite(runs[0])
    items = suite_items(runs[0], suite)
    families = suite.families
    systems, notes, warnings = systems_of(runs)
    if line := heldout_warning(runs):
        warnings.append(line)
    group_runs = seed_groups([r.name for r in runs], groups)
    candidates = _reference_candidates(reference, systems, runs, group_runs)
    clash = sorted(set(group_runs) & {s.label for s in systems})
    if clash:
        raise CompareError(
            f"seed group {', '.join(clash)} has the name of a system: name the group otherwise (--group)"
        )
    head, _, verdicts = P.primary(items, {s.label: s.rows for s in systems}, samples, seed)
    dialogues = {s.label: D.verdicts(items, s.rows) for s in systems}
    first = runs[0].eval
    known = list(((first.get("range") or {}).get(runs[0].sides[0]) or {}).get("per_context") or [])
    known = known or sorted({r["context"] for s in systems for r in s.rows if r.get("context")})
    styled = {s.label: _styled(s, known, families) for s in systems}
    figures = [
        _system_figures(s, head[s.label], dialogues[s.label], styled[s.label], known, samples, seed) for s in systems
    ]
    diffs = _differences(items, systems, candidates, styled, dialogues, samples, seed)
    diffs += _group_differences(group_runs, systems, candidates, verdicts, samples, seed)
    _correct(diffs)
    seeds = _seed_groups(group_runs, figures)
    if len(candidates) > 1:
        notes.append(
            f"reference {reference}: {', '.join(c.label for c in candidates)} — each system is compared with the one "
            "of its own run (or of its seed)"
        )

    return Comparison(
        reference=reference,
        samples=samples,
        seed=seed,
        model=first.get("model"),
        decoding=first.get("decoding"),
        suite=first.get("suite") or {},
        contexts=head.get("contexts") or [],
        metrics={"primary": MetricInfo(label="appropriate-response rate (macro over contexts)")}
        | {
            k: MetricInfo(label=label + REACHED_LABEL * (k in M.REACHED_BY_CONTROLS), higher_is_better=sign > 0)
            for k, (label, sign) in SECONDARY.items()
        },
        runs=[
            RunInfo(
                name=r.name,
                path=str(r.path),
                sides=r.sides,
                device=r.eval.get("device"),
                precision=r.eval.get("precision"),
            )
            for r in runs
        ],
        systems=figures,
        differences=diffs,
        groups=seeds,
        notes=notes,
        warnings=warnings,
    )
