"""`emergent report RUN_DIR`: one self-contained HTML page (inline CSS and SVG, nothing fetched to view it)."""

from __future__ import annotations

import datetime as dt
from html import escape
from importlib import resources
from pathlib import Path

from emergent.handoff import Counts
from emergent.report import svg
from emergent.report.eval_sections import evaluation_section, headline_rows, heldout_row, samples_section
from emergent.report.results import RunResults, as_float, load_run
from emergent.report.sections import data_section, training_section

NAV = (
    ("data", "Data"),
    ("composition", "Composition"),
    ("sources", "Sources"),
    ("training", "Training"),
    ("evaluation", "Evaluation"),
    ("samples", "Samples"),
)


def _kpis(r: RunResults) -> str:
    counts = r.manifest.counts if r.manifest else Counts()
    phases = r.phases()
    tokens = sum(p.tokens or 0 for p in phases)
    cells = [
        (
            "examples curated",
            svg.fmt_num(as_float(counts.output)) if counts.output is not None else "n/a",
            f"of {svg.fmt_num(as_float(counts.input))} in" if counts.input else "",
        ),
        ("phases trained", str(len(phases)) if phases else "n/a", f"{svg.fmt_num(tokens)} tokens" if tokens else ""),
    ]
    for label, b, a, d, _ in headline_rows(r)[:3]:
        short = label.split(" (")[0]
        value = f"{a.mean:.2f}" if a.mean is not None else "n/a"
        note = f"base {b.mean:.2f}, Δ {d.mean:+.2f}" if b.mean is not None and d.mean is not None else ""
        cells.append((short, value, note))
    held = heldout_row(r)
    if held and held[2].mean is not None:
        _, b, a, d, _ = held
        note = f"base {b.mean:.3f}, Δ {d.mean:+.4f}" if b.mean is not None and d.mean is not None else ""
        cells.append(("held-out loss", f"{a.mean:.3f}", note))
    return (
        '<div class="kpis">'
        + "".join(
            f"<div class='kpi'><span>{escape(k)}</span><b>{escape(v)}</b><small>{escape(n)}</small></div>"
            for k, v, n in cells
        )
        + "</div>"
    )


def render_report(r: RunResults) -> str:
    """The full page as a string."""
    css = resources.files("emergent.report").joinpath("report.css").read_text(encoding="utf-8")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{i}">{t}</a>' for i, t in NAV)
    body = "".join([data_section(r), training_section(r), evaluation_section(r), samples_section(r)])
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>emergent report — {escape(r.name)}</title><style>{css}</style></head><body>"
        f"<header class='top'><div class='wrap'><h1>emergent · {escape(r.name)}</h1>"
        f"<p>Base model {escape(r.base_model)} · one LoRA adapter · curriculum of {len(r.phases()) or 'n/a'} phases · "
        f"generated {now}</p></div></header>"
        f"<div class='wrap'>{_kpis(r)}</div><nav class='toc'><div class='wrap'>{nav}</div></nav>"
        f"<main class='wrap'>{body}</main>"
        f"<footer class='wrap'>Run folder <code>{escape(str(r.run_dir))}</code> · data/manifest.json, "
        "train/train_summary.json, train/metrics.jsonl, train/validation.jsonl, eval/eval.json, eval/generations.jsonl · "
        "made by <code>emergent report</code>; this page needs no network.</footer></body></html>"
    )


def write_report(run_dir: Path) -> Path:
    """Write RUN_DIR/report.html from whatever stages have finished; missing parts show as n/a."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"{run_dir}: run folder not found — pass the output_dir of a run (e.g. runs/quickstart)"
        )
    out = run_dir / "report.html"
    tmp = out.with_suffix(".html.partial")
    tmp.write_text(render_report(load_run(run_dir)), encoding="utf-8")
    tmp.replace(out)
    return out
