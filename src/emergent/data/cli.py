"""`emergent data ingest` and `emergent data preview`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from emergent.errors import print_error
from emergent.schema import Conversation, tool_function

console = Console()


def ingest_command(
    config: Path = typer.Argument(..., help="Mixture config (YAML) listing the sources."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Read every source into one conversation schema; quarantine unusable rows with a reason."""
    from emergent.config import load_config
    from emergent.data.ingest import ingest

    cfg = load_config(config)
    manifest = ingest(cfg.sources, cfg.ingest, out, show_progress=not quiet)
    print_ingest_manifest(manifest)
    console.print(f"wrote [bold]{out}/conversations[/], {out}/quarantine.jsonl, {out}/manifest.json")


def print_ingest_manifest(manifest: dict) -> None:
    table = Table(title="ingest manifest", show_footer=True)
    counts = manifest["counts"]
    table.add_column("source", footer="total")
    table.add_column("licence")
    table.add_column("category")
    table.add_column("input", justify="right", footer=f"{counts['input']:,}")
    table.add_column("accepted", justify="right", footer=f"{counts['accepted']:,}")
    table.add_column("quarantined", justify="right", footer=f"{counts['quarantined']:,}")
    table.add_column("reasons")
    for name, s in manifest["sources"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in s["reasons"].items())
        table.add_row(
            name,
            s["license"] or "?",
            s["category"] or "(classify)",
            f"{s['input']:,}",
            f"{s['accepted']:,}",
            f"{s['quarantined']:,}",
            reasons,
        )
    console.print(table)
    if manifest.get("persona_tags_stripped"):
        console.print(f"persona control tags stripped: {manifest['persona_tags_stripped']}")


def render_plain(conv: Conversation) -> str:
    """A conversation as a person reads it: one block per turn, tool calls as name(arguments)."""
    lines = []
    if conv.get("tools"):
        names = ", ".join(tool_function(t).get("name", "?") for t in conv["tools"])
        lines.append(f"[dim]tools available: {names}[/]")
    for m in conv["messages"]:
        role = m["role"]
        style = {"system": "magenta", "user": "green", "assistant": "cyan", "tool": "yellow"}[role]
        if m.get("content"):
            lines.append(f"[bold {style}]{role}:[/] {escape(m['content'])}")
        for c in m.get("tool_calls") or []:
            lines.append(
                f"[bold {style}]{role} → call[/] {escape(c['function']['name'])}({escape(c['function']['arguments'])})"
            )
    return "\n".join(lines)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def preview_command(
    out: Path = typer.Argument(..., help="An output folder of `data ingest`/`data build`, or a Parquet file."),
    n: int = typer.Option(5, "-n", help="How many records."),
    phase: str | None = typer.Option(None, "--phase", help="Preview a curriculum phase file of `data build`."),
    rendered: bool = typer.Option(
        False, "--rendered", help="Show exactly the text the model trains on, loss spans marked."
    ),
    model: str = typer.Option(
        "smollm2-135m-instruct", "--model", help="Model whose chat template renders (--rendered)."
    ),
    chat_template: str | None = typer.Option(
        None, "--chat-template", help="As model.chat_template: chatml or a Jinja file (--rendered)."
    ),
    mask_history: bool = typer.Option(
        False,
        "--mask-history",
        help="As training.mask_history: only the last assistant turn carries loss (--rendered).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print raw records as JSON lines."),
) -> None:
    """Print records as a person would read them (or exactly as the model will see them)."""
    from emergent.data.store import read_conversations

    path = out / "phases" / f"{phase}.parquet" if phase else out
    if phase and not path.exists():
        raise typer.BadParameter(f"{path} not found — phases are written by `emergent data build`")
    convs = list(itertools.islice(read_conversations(path), n))
    if rendered:
        from emergent.data.preview import print_rendered

        try:
            print_rendered(convs, model, console, chat_template, last_turn_only=mask_history)
        except (ValueError, OSError) as err:  # no chat template, a missing model or template file
            print_error(err)
            raise typer.Exit(1) from None
        return
    for conv in convs:
        if as_json:
            console.print_json(json.dumps(conv, ensure_ascii=False))
            continue
        title = f"{conv['_source']} · {conv.get('_category') or 'unclassified'} · {conv['_origin']}"
        console.print(Panel(render_plain(conv), title=title, subtitle=f"id {conv['_id']}", title_align="left"))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("preview")(preview_command)
