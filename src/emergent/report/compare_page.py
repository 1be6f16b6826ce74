"""The pages of `emergent compare`: compare.md (a table to paste into docs), compare.html and the terminal table.

Everything here reads the Comparison model (compare.json) and nothing else: no figure is computed here.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emergent.report import svg
from emergent.report.sections import card, na, table, warnings_html

if TYPE_CHECKING:
    from rich.table import Table

    from emergent.evaluate.compare import Comparison, Difference, Figure, SeedGroup, SystemFigures

SECONDARY_COLUMNS = ("fit", "consistency", "transitions", "dialogues", "depth", "range", "collapse")
COLOURS = {"better": "#2bb39a", "worse": "#e8744f"}


def fmt(f: Figure | None, signed: bool = False, digits: int = 3, n: bool = True) -> str:
    """`0.233 [0.150, 0.310] (n=90)`; `–` when there is no figure."""
    if f is None or f.mean is None:
        return "–"
    spec = f"{'+' if signed else ''}.{digits}f"
    lo, hi = f.ci95
    s = format(f.mean, spec)
    if lo is not None and hi is not None:
        s += f" [{format(lo, spec)}, {format(hi, spec)}]"
    return s + (f" (n={f.n})" if n else "")


def _diff_text(d: Difference | None) -> str:
    if d is None or d.mean is None:
        return "–"
    lo, hi = d.ci95
    ci = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None and hi is not None else ""
    return f"{d.mean:+.3f}{ci} (n={d.n})"


def _p(v: float | None) -> str:
    return "–" if v is None else ("<0.001" if v < 0.001 else f"{v:.3f}")


def _num(v: Any, digits: int = 0) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}"


def _diff(c: Comparison, label: str, metric: str) -> Difference | None:
    return next((d for d in c.differences if d.system == label and d.metric == metric), None)


def summary_rows(c: Comparison, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """The one table: per system the primary metric, its difference and test, every secondary metric, training cost.

    `compact` (the terminal) gives the secondary metrics without their CIs; compare.md has them."""
    arrow = {k: "↑" if m.higher_is_better else "↓" for k, m in c.metrics.items()}
    headers = [
        "system",
        f"{c.metrics['primary'].label} ↑",
        f"Δ vs {c.reference}",
        "p (Holm)",
        "verdict",
        *(f"{c.metrics[k].label} {arrow[k]}" for k in SECONDARY_COLUMNS),
        "held-out loss ↓",
        "train steps",
        "train tokens",
        "train seconds",
    ]
    rows = []
    for s in c.systems:
        d = _diff(c, s.label, "primary")
        t = s.training
        rows.append(
            [
                s.label,
                fmt(s.primary),
                _diff_text(d) if d else ("reference" if _is_reference(c, s) else "–"),
                _p(d.p_holm) if d else "–",
                d.verdict if d else "–",
                *(_short(s.secondary.get(k)) if compact else fmt(s.secondary.get(k)) for k in SECONDARY_COLUMNS),
                fmt(s.heldout_loss) if s.heldout_loss else "n/a",
                _num(t.steps) if t else "n/a",
                _num(t.tokens) if t else "n/a",
                (_num(t.seconds, 1) + (f" + {_num(t.replay_seconds, 1)} replay" if t.replay_seconds else ""))
                if t
                else "n/a",
            ]
        )
    return headers, rows


def _short(f: Figure | None) -> str:
    return "–" if f is None or f.mean is None else f"{f.mean:.3f} (n={f.n})"


def _is_reference(c: Comparison, s: SystemFigures) -> bool:
    return any(d.reference == s.label for d in c.differences) or s.label == c.reference


def secondary_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    headers = ["system", "reference", "metric", "Δ (95 % CI, n)", "test", "p", "p (Holm)", "verdict"]
    rows = [
        [d.system, d.reference, c.metrics[d.metric].label, _diff_text(d), d.test, _p(d.p), _p(d.p_holm), d.verdict]
        for d in c.differences
    ]
    return headers, rows


def _3(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def group_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    headers = [
        "group",
        "runs",
        f"{c.metrics['primary'].label}: mean",
        "sd",
        "min – max",
        "seeds (n)",
        f"Δ vs {c.reference}, seeds pooled",
        "p (Holm)",
        "verdict",
        "grouped by",
    ]
    rows = []
    for g in c.groups:
        span = f"{_3(g.min)} – {_3(g.max)}" if g.min is not None else "–"
        d = _diff(c, g.name, "primary")
        pooled = [_diff_text(d), _p(d.p_holm), d.verdict] if d else ["–", "–", "–"]
        rows.append([g.name, ", ".join(g.runs), _3(g.mean), _3(g.sd), span, str(g.n), *pooled, g.how])
    return headers, rows


def group_line(c: Comparison, g: SeedGroup) -> str:
    """One group for the terminal: the seeds' spread and, where tested, the pooled difference."""
    sd = f", sd {g.sd:.3f}" if g.sd is not None else ""
    line = f"group {g.name} ({g.n} seeds): mean {g.mean:.3f}{sd}, range {g.min:.3f}–{g.max:.3f}"
    d = _diff(c, g.name, "primary")
    if d is None or d.mean is None:
        return line
    return f"{line}; pooled Δ vs {d.reference} {_diff_text(d)}, Holm p {_p(d.p_holm)} ({d.verdict})"


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def _method(c: Comparison) -> str:
    checked = c.suite.get("checked_items")
    tests = sum(1 for d in c.differences if d.p is not None and d.n >= c.min_n_for_verdict)  # the Holm family
    return (
        f"{c.definition}. Suite: {checked} checked items over {len(c.contexts)} contexts; model {c.model or 'n/a'}. "
        f"Figures: mean [95 % bootstrap CI] (n items), {c.samples} resamples, seed {c.seed}. "
        f"Δ = system − {c.reference} over the items both answered: the primary metric's CI resamples items within "
        "each context, its p is the exact McNemar test on pass/fail; the secondary metrics use a paired bootstrap. "
        "A seed group's pooled Δ averages its seeds per item (each seed against its own reference) and resamples "
        "the seeds and the items, so its CI and p carry the seeds' spread (with few seeds, under-stated by (S − 1) / S). "
        f"p is Holm-corrected over all {tests} tests (system × metric, and seed groups); no verdict below n = "
        f"{c.min_n_for_verdict}."
    )


def markdown(c: Comparison) -> str:
    """compare.md: the tables, ready to paste into docs/proof.md."""
    parts = [
        f"## {c.metrics['primary'].label}: {len({s.label for s in c.systems})} systems against {c.reference}",
        "",
        _method(c),
        "",
        _md_table(*summary_rows(c)),
    ]
    if c.differences:
        parts += ["", "### Every paired difference", "", _md_table(*secondary_rows(c))]
    if c.groups:
        parts += ["", "### Seeds", "", _md_table(*group_rows(c))]
    if c.notes or c.warnings:
        parts += [""] + [f"- ⚠ {w}" for w in c.warnings] + [f"- {n}" for n in c.notes]
    return "\n".join(parts) + "\n"


def rich_table(c: Comparison) -> Table:
    """The summary table for the terminal, one column per system (a terminal is narrower than a page)."""
    from rich.table import Table

    headers, rows = summary_rows(c, compact=True)
    t = Table(title=f"emergent compare — reference {c.reference} (mean [95 % CI] (n))")
    t.add_column(headers[0])
    for r in rows:
        t.add_column(r[0])
    for i, h in enumerate(headers[1:], 1):
        t.add_row(h, *(r[i] for r in rows))
    return t


def _forest(c: Comparison, metric: str) -> str:
    info = c.metrics[metric]
    rows = [
        (d.system, d.mean, d.ci95[0], d.ci95[1], COLOURS.get(d.verdict, svg.BASE_COLOUR))
        for d in c.differences
        if d.metric == metric
    ]
    side = "right" if info.higher_is_better else "left"
    return svg.intervals(
        rows,
        x_label=f"system − reference, {info.label} ({side} of the dashed line: better)",
        label=f"{info.label}: differences against the reference",
    )


def _html_table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    return table(headers, [[escape(x) if x not in ("n/a", "–") else na(x) for x in r] for r in rows], numeric)


def render_page(c: Comparison) -> str:
    """compare.html: one self-contained page (inline CSS and SVG)."""
    css = resources.files("emergent.report").joinpath("report.css").read_text(encoding="utf-8")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    headers, rows = summary_rows(c)
    primary = card(
        f"Primary metric: {c.metrics['primary'].label}",
        f"<p>{escape(_method(c))}</p>"
        + _html_table(headers, rows, set(range(1, len(headers))))
        + _forest(c, "primary"),
    )
    ctx_rows = [[s.label, *(fmt(s.per_context.get(x)) for x in c.contexts), str(s.missing)] for s in c.systems]
    per_context = card(
        "Per context",
        "<p>The primary metric per context (each context weighs the same in the macro average).</p>"
        + _html_table(["system", *c.contexts, "missing"], ctx_rows, set(range(1, len(c.contexts) + 2))),
    )
    kinds = list(dict.fromkeys(k for s in c.systems for k in s.dialogue_kinds))
    kind_rows = [[s.label, *(fmt(s.dialogue_kinds.get(k)) for k in kinds)] for s in c.systems]
    dialogues = (
        card(
            "Checked dialogues per kind",
            "<p>Share of dialogues whose replies pass the checks of every judged turn.</p>"
            + _html_table(["system", *kinds], kind_rows, set(range(1, len(kinds) + 1))),
        )
        if kinds
        else ""
    )
    forests = "".join(
        f"<h4>{escape(c.metrics[m].label)}</h4>{_forest(c, m)}"
        for m in SECONDARY_COLUMNS
        if any(d.metric == m for d in c.differences)
    )
    diffs = card(
        "Every paired difference",
        "<p>One family of tests, Holm-corrected together. Depth is a correlation over items, so it has no paired "
        "per-item difference.</p>" + _html_table(*secondary_rows(c), {3, 5, 6}) + forests,
    )
    groups = card("Seeds", _html_table(*group_rows(c), {2, 3, 4, 5, 6, 7})) if c.groups else ""
    phase_rows = [
        [s.label, p.name, _num(p.steps), _num(p.tokens), _num(p.seconds, 1)]
        for s in c.systems
        if s.training
        for p in s.training.phases
    ]
    training = (
        card(
            "Training cost per phase",
            _html_table(["system", "phase", "steps", "tokens", "seconds"], phase_rows, {2, 3, 4}),
        )
        if phase_rows
        else ""
    )
    run_rows = [[r.name, r.path, ", ".join(r.sides), r.device or "n/a", r.precision or "n/a"] for r in c.runs]
    runs = card("Runs", _html_table(["run", "folder", "sides", "device", "precision"], run_rows))
    notes = "".join(f"<p class='muted'>{escape(n)}</p>" for n in c.notes)
    decoding = ", ".join(f"{k} {v}" for k, v in (c.decoding or {}).items())
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>emergent compare — {escape(c.reference)}</title><style>{css}</style></head><body>"
        f"<header class='top'><div class='wrap'><h1>emergent · compare</h1>"
        f"<p>{len(c.runs)} runs · {len(c.systems)} systems · reference {escape(c.reference)} · base model "
        f"{escape(str(c.model))} · generated {now}</p></div></header>"
        f"<main class='wrap'><section id='compare'>{warnings_html(c.warnings, shown=10)}{notes}"
        f"{primary}{per_context}{dialogues}{diffs}{groups}{training}{runs}</section></main>"
        f"<footer class='wrap'>Decoding: {escape(decoding or 'n/a')} · made by <code>emergent compare</code> from each "
        "run's eval/eval.json and eval/generations.jsonl; compare.json holds every figure; this page needs no network."
        "</footer></body></html>"
    )


def write_comparison(c: Comparison, out: Path) -> list[Path]:
    """OUT/compare.json, OUT/compare.md and OUT/compare.html."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.json", out / "compare.md", out / "compare.html"]
    for path, text in zip(paths, [c.model_dump_json(indent=2), markdown(c), render_page(c)], strict=True):
        tmp = path.with_suffix(path.suffix + ".partial")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths
