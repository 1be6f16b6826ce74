"""`emergent run`, `emergent report` and `emergent chat` (registered onto the root app by emergent.cli)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from emergent.config import load_config
from emergent.errors import print_error

DEFAULT_CONFIG = Path("configs/quickstart.yaml")
STAGE_TITLES = {
    "data": "1/3 data: ingest + curate",
    "train": "2/3 train: curriculum",
    "eval": "3/3 eval: base vs adapter",
}


def _stage_line(stage: str, summary: dict, run_dir: Path) -> str:
    """One line of figures per stage for the end-of-run summary, read from the stage's files."""
    from emergent.report.eval_sections import headline_rows, heldout_row
    from emergent.report.results import as_float, load_run
    from emergent.report.svg import fmt_num

    r = load_run(run_dir)
    if stage == "data":
        c = r.manifest.get("counts") or {}
        if not c:
            return ""
        off = [
            b
            for b, v in (r.manifest.get("composition") or {}).items()
            if isinstance(v, dict) and v.get("status") not in (None, "ok")
        ]
        return (
            f"{fmt_num(as_float(c.get('output')) or 0)} conversations kept of {fmt_num(as_float(c.get('input')) or 0)}"
            f" from {len(r.sources())} sources; {len(off)} buckets outside target"
        )
    if stage == "train":
        ph = r.phases()
        if not ph:
            return ""
        steps = sum(as_float(p.get("steps")) or 0 for p in ph)
        # Phase means: single first/last steps mostly show which data a batch held, and phases differ in data.
        means = [as_float(p.get("loss_mean")) for p in ph]
        if all(m is not None for m in means):
            loss = "mean loss by phase " + " · ".join(f"{m:.2f}" for m in means)
        else:
            first_loss, last_loss = as_float(ph[0].get("loss_first")), as_float(ph[-1].get("loss_last"))
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
        rows = headline_rows(r)
        parts = [
            f"{label.split(' (')[0]} {b.mean:.2f} → {a.mean:.2f}" + (f" ({d.text(2)})" if d.lo is not None else "")
            for label, b, a, d, _ in rows[:2]
            if a.mean is not None and b.mean is not None
        ]
        n = (r.eval.get("primary") or {}).get("items_checked")
        if n and parts:  # the primary metric leads: say on how many items
            parts[0] += f", n = {n}"
        held = heldout_row(r)
        if held and held[1].mean is not None and held[2].mean is not None:
            parts.append(f"held-out loss {held[1].mean:.3f} → {held[2].mean:.3f} ({held[3].text(4)})")
        return "; ".join(parts)
    return ""


def print_run_summary(outcome, console: Console) -> None:
    """The one-screen summary: a row per stage, then where the report, adapter and chat command are."""
    table = Table(show_header=True, header_style="bold", expand=False)
    for col in ("stage", "status", "time", "result"):
        table.add_column(col)
    style = {"ran": "green", "reused": "cyan", "skipped": "yellow", "failed": "bold red"}
    for s in outcome.stages:
        mins, secs = divmod(int(s.seconds), 60)
        figures = _stage_line(s.name, s.summary, outcome.run_dir) if s.status in ("ran", "reused") else ""
        table.add_row(s.name, f"[{style.get(s.status, '')}]{s.status}[/]", f"{mins}m{secs:02d}s", figures or s.note)
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


def run_command(
    config: Path = typer.Argument(DEFAULT_CONFIG, help="Run config (YAML); default: the bundled quickstart."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Run folder; default: the config's output_dir."
    ),
    skip_data: bool = typer.Option(False, "--skip-data", help="Do not build the data; use RUN/data as it is."),
    skip_train: bool = typer.Option(
        False, "--skip-train", help="Do not train; use RUN/train as it is (or evaluate the base only)."
    ),
    skip_eval: bool = typer.Option(False, "--skip-eval", help="Do not evaluate."),
    fresh: bool = typer.Option(False, "--fresh", help="Re-run every stage even if it finished with the same config."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue a training folder `emergent run` did not start (e.g. from `emergent train`); runs it interrupted continue by themselves.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """The main job: build the mixture, train through the curriculum, evaluate base vs adapter, write the report.

    Stages that finished with the same config are reused (RUN/stages.json); --fresh redoes them. A stage
    interrupted (Ctrl-C, kill) continues where it stopped when rerun with the same config.
    """
    from emergent.report.pipeline import run_pipeline

    cfg = load_config(config)
    if output_dir is not None:
        cfg.output_dir = output_dir.resolve()
    console = Console()
    skip = {s for s, flag in (("data", skip_data), ("train", skip_train), ("eval", skip_eval)) if flag}

    def on_stage(stage: str, event: str) -> None:
        console.rule(f"[bold]{STAGE_TITLES[stage]}")

    outcome = run_pipeline(cfg, skip=skip, fresh=fresh, resume=resume, show_progress=progress, on_stage=on_stage)
    print_run_summary(outcome, console)
    if outcome.error is not None:
        raise typer.Exit(1)


def report_command(run_dir: Path = typer.Argument(..., help="A run folder (the config's output_dir).")) -> None:
    """Write RUN_DIR/report.html: one self-contained page (data, composition, training, evaluation, samples)."""
    from emergent.report.html import write_report
    from emergent.report.model_card import write_model_card

    if not run_dir.is_dir():
        print_error(f"{run_dir}: run folder not found — pass the output_dir of a run, e.g. runs/quickstart")
        raise typer.Exit(2)
    path = write_report(run_dir)
    if (run_dir / "train" / "adapter").is_dir():
        write_model_card(run_dir)
    Console().print(f"report: [bold]{path}[/]", highlight=False)


def chat_command(
    adapter_dir: Path = typer.Argument(..., help="A LoRA adapter folder, e.g. runs/quickstart/train/adapter."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Base model; default: the adapter's base_model_name_or_path."
    ),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Longest reply, in tokens."),
    temperature: float = typer.Option(
        0.0, "--temperature", min=0.0, help="0 = greedy (as in evaluation); > 0 samples."
    ),
) -> None:
    """Talk to the model with the adapter: streaming, multi-turn; /base compares with the base model, /reset, /exit."""
    from emergent.report.chat import ChatSession, chat_loop, load_chat_model

    console = Console(stderr=True)
    try:
        with console.status("loading model and adapter…"):
            peft_model, tokenizer = load_chat_model(adapter_dir, model)
    except (FileNotFoundError, ValueError) as err:
        print_error(err)
        raise typer.Exit(2) from None
    try:
        chat_loop(ChatSession(peft_model, tokenizer, max_new_tokens=max_new_tokens, temperature=temperature))
    except KeyboardInterrupt:
        print()


def register(app: typer.Typer) -> None:
    """Add `run`, `report` and `chat` to the root app."""
    app.command("run")(run_command)
    app.command("report")(report_command)
    app.command("chat")(chat_command)
