"""The end-of-run summary on the console: a row of figures per stage, read from the run's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from emergent.handoff import CompositionStatus
from emergent.report.eval_sections import REACHED, headline_rows, heldout_row
from emergent.report.results import as_float, load_run
from emergent.report.svg import fmt_num


def stage_line(stage: str, summary: dict, run_dir: Path) -> str:
    """One line of figures per stage for the end-of-run summary, read from the stage's files."""
    r = load_run(run_dir)
    if stage == "data":
        if r.manifest is None:
            return ""
        c = r.manifest.counts
        off = [b for b, v in r.manifest.composition.items() if v.status not in (None, CompositionStatus.OK)]
        return (
            f"{fmt_num(as_float(c.output) or 0)} conversations kept of {fmt_num(as_float(c.input) or 0)}"
            f" from {len(r.sources())} sources; {len(off)} buckets outside target"
        )
    if stage == "train":
        ph = r.phases()
        if not ph:
            return ""
        steps = sum(p.steps or 0 for p in ph)
        # Phase means: single first/last steps mostly show which data a batch held, and phases differ in data.
        means = [p.loss_mean for p in ph]
        if all(m is not None for m in means):
            loss = "mean loss by phase " + " · ".join(f"{m:.2f}" for m in means)
        else:
            first_loss, last_loss = ph[0].loss_first, ph[-1].loss_last
            loss = (
                f"loss {first_loss:.3f} → {last_loss:.3f}"
                if first_loss is not None and last_loss is not None
                else "loss n/a"
            )
        cols = [c for c in r.validation_columns() if c[1] is not None]
        has_base = len(cols) > 1 and cols[0][0] == "base"
        held = f", validation loss {cols[0][1]:.3f} → {cols[-1][1]:.3f}" if has_base else ""
        return f"{len(ph)} phases, {fmt_num(steps)} steps, {loss}{held}"
    if stage == "eval":
        rows = [row for row in headline_rows(r) if REACHED not in row[0]]  # no figure a control reaches
        parts = [
            f"{label.split(' (')[0].split(':')[0].split(' [')[0]} {b.mean:.2f} → {a.mean:.2f}"
            + (f" ({d.text(2)})" if d.lo is not None else "")
            for label, b, a, d, _ in rows[:2]
            if a.mean is not None and b.mean is not None
        ]
        n = r.eval.primary.items_checked if r.eval and r.eval.primary else None
        if n and parts:  # the primary metric leads: say on how many items
            parts[0] += f", n = {n}"
        held = heldout_row(r)
        if held and held[1].mean is not None and held[2].mean is not None:
            parts.append(f"held-out loss {held[1].mean:.3f} → {held[2].mean:.3f} ({held[3].text(4)})")
        return "; ".join(parts)
    return ""


def print_run_summary(outcome: Any, console: Console) -> None:
    """The one-screen summary: a row per stage, then where the report, adapter and chat command are."""
    table = Table(show_header=True, header_style="bold", expand=False)
    for col in ("stage", "status", "time", "result"):
        table.add_column(col)
    style = {"ran": "green", "reused": "cyan", "skipped": "yellow", "failed": "bold red"}
    for s in outcome.stages:
        mins, secs = divmod(int(s.seconds), 60)
        figures = stage_line(s.name, s.summary, outcome.run_dir) if s.status in ("ran", "reused") else ""
        table.add_row(
            s.name,
            f"[{style.get(s.status, '')}]{s.status}[/]",
            f"{mins}m{secs:02d}s",
            " · ".join(x for x in (figures, s.note) if x),
        )
    lines = []
    if outcome.report:
        lines.append(f"report      [bold]{outcome.report}[/]  (open it in a browser; no network needed)")
    adapter = outcome.run_dir / "train" / "adapter"
    if outcome.model_card:
        lines.append(f"adapter     {adapter}  (model card: README.md)")
        lines.append(f"talk to it  [bold]emergent chat {adapter}[/]")
    if outcome.error is not None:
        lines.append(f"[bold red]failed:[/] {type(outcome.error).__name__}: {escape(str(outcome.error))}")
    console.print(
        Panel.fit(table, title=f"emergent run · {outcome.run_dir}", border_style="red" if outcome.error else "green")
    )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
