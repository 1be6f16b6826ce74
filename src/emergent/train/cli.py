"""Commands of this stage: `emergent train` and `emergent export` (registered by emergent.cli)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from emergent.errors import print_error


def _fail(err: Exception) -> None:
    print_error(err)
    raise typer.Exit(1)


def train_command(
    config: Path = typer.Argument(..., help="Run config (YAML), e.g. configs/quickstart.yaml"),
    data: Path | None = typer.Option(None, "--data", help="Built data folder [default: OUTPUT_DIR/data]"),
    out: Path | None = typer.Option(None, "-o", "--out", help="Training output [default: OUTPUT_DIR/train]"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint"),
    fresh: bool = typer.Option(False, "--fresh", help="Delete a previous run in the output folder and start over"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars"),
) -> None:
    """Train one LoRA adapter through the curriculum phases (works under `accelerate launch` too)."""
    from emergent.config import load_config
    from emergent.train.trainer import train

    cfg = load_config(config)
    data = data or cfg.output_dir / "data"
    out = out or cfg.output_dir / "train"
    try:
        summary = train(cfg, data, out, resume=resume, show_progress=not quiet, fresh=fresh)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        _fail(err)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun / accelerate launch only the main process reports
    console = Console()
    for p in summary["phases"]:
        console.print(
            f"{p['name']}: {p['steps']} steps, loss {p['loss_first']:.4f} -> {p['loss_last']:.4f}"
            + (f" (phase mean {p['loss_mean']:.4f}), " if p.get("loss_mean") is not None else ", ")
            + f"{p['tokens_per_s'] or 0:,.0f} tokens/s",
            highlight=False,
        )
    console.print(f"adapter: {summary['adapter']}", highlight=False)


def export_command(
    adapter: Path = typer.Argument(..., help="Adapter folder, e.g. RUN/train/adapter"),
    merge: bool = typer.Option(False, "--merge", help="Fold the adapter into the base weights"),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for the merged model"),
    model: str | None = typer.Option(None, "--model", help="Base model [default: the adapter's base]"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code"),
) -> None:
    """Write a standalone safetensors model: base weights with the adapter merged in."""
    from emergent.train.export import merge_adapter

    if not merge:
        _fail(ValueError("only --merge is supported; the adapter folder itself is the unmerged export"))
    try:
        path = merge_adapter(adapter, out, model=model, trust_remote_code=trust_remote_code)
    except (FileNotFoundError, ValueError, OSError) as err:
        _fail(err)
    Console().print(f"merged model: {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to `app`."""
    app.command("train")(train_command)
    app.command("export")(export_command)
