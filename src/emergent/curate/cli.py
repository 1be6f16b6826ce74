"""`emergent data build` and `emergent data report` (registered on the `data` app by emergent.cli)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def build_command(
    config: Path = typer.Argument(..., help="Run config (YAML): sources + the curate section."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output folder (default: <output_dir>/data)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Ingest, filter, dedup, decontaminate, categorise; write the mixture, phase files and manifest."""
    from emergent.config import load_config
    from emergent.curate.build import build

    cfg = load_config(config)
    out = out or cfg.output_dir / "data"
    start = time.perf_counter()
    manifest = build(cfg, out, show_progress=not quiet)
    seconds = time.perf_counter() - start
    print_manifest(manifest)
    n = manifest["counts"]["input"]
    console.print(
        f"wrote [bold]{out}[/] (conversations/, phases/, validation.parquet, dropped/, quarantine.jsonl, manifest.json) in {seconds:.1f} s, {n / max(seconds, 1e-9):,.0f} records/s"
    )


def report_command(out: Path = typer.Argument(..., help="Output folder of `emergent data build`.")) -> None:
    """Print a build's manifest as tables: counts, reasons, sources, composition, phases, warnings."""
    path = out / "manifest.json"
    if not path.is_file():
        raise typer.BadParameter(f"{path} not found — run `emergent data build CONFIG -o {out}` first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("stage") != "build":
        raise typer.BadParameter(
            f"{path} is a {manifest.get('stage')!r} manifest — `data report` reads the output of `data build`"
        )
    print_manifest(manifest)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_manifest(m: dict) -> None:
    from emergent.curate.build import ACCOUNTED_PARTS

    c = m["counts"]
    counts = Table(title="records")
    for key in c:
        counts.add_column(key.replace("_", " "), justify="right")
    counts.add_row(*(f"{v:,}" for v in c.values()))
    console.print(counts)

    if m["reasons"]:
        reasons = Table(title="why records were dropped")
        reasons.add_column("reason")
        reasons.add_column("count", justify="right")
        for reason, n in sorted(m["reasons"].items(), key=lambda kv: -kv[1]):
            reasons.add_row(reason, f"{n:,}")
        console.print(reasons)

    sources = Table(title="sources")
    for col in (
        "source",
        "licence",
        "category",
        "input",
        "quarantined",
        "filtered",
        "exact dup",
        "near dup",
        "prompt dup",
        "contaminated",
        "capped",
        "output",
        "share",
    ):
        sources.add_column(col, justify="left" if col in ("source", "licence", "category") else "right")
    for name, s in m["sources"].items():
        sources.add_row(
            name,
            s["license"] or "?",
            s["category"],
            *(f"{s[k]:,}" for k in ("input", *ACCOUNTED_PARTS)),
            _pct(s["share"]),
        )
    console.print(sources)

    comp = Table(title="composition (before dedup → after)")
    for col in ("bucket", "before", "after", "share", "target", "status"):
        comp.add_column(col, justify="left" if col in ("bucket", "status") else "right")
    before = m["composition_before_dedup"]
    colour = {"ok": "green", "below": "yellow", "above": "yellow", "above_max": "red", "untargeted": "dim"}
    for bucket, b in m["composition"].items():
        target = f"{_pct(b['target'][0])}–{_pct(b['target'][1])}" if b["target"] else "-"
        comp.add_row(
            bucket,
            f"{before.get(bucket, {}).get('count', 0):,}",
            f"{b['count']:,}",
            _pct(b["share"]),
            target,
            f"[{colour[b['status']]}]{b['status']}[/]",
        )
    console.print(comp)
    d = m["diversity"]
    console.print(
        f"diversity: entropy {d['entropy_bits']:.2f} bits of {d['max_entropy_bits']:.2f}, effective buckets {d['effective_buckets']:.2f} of 10"
    )

    phases = Table(title="curriculum phases")
    for col in ("phase", "examples", "tokens (approx.)", "categories"):
        phases.add_column(col, justify="right" if col in ("examples", "tokens (approx.)") else "left")
    for name, p in m["phases"].items():
        phases.add_row(
            name, f"{p['examples']:,}", f"{p['tokens']:,}", ", ".join(f"{k} {v:,}" for k, v in p["categories"].items())
        )
    if m.get("validation"):  # builds from before the validation set have none
        v = m["validation"]
        phases.add_row(
            f"[dim]held out: {v['file']}[/]",
            f"{v['examples']:,}",
            f"{v['tokens']:,}",
            ", ".join(f"{k} {n:,}" for k, n in v["categories"].items()) or "none (curate.validation)",
        )
    console.print(phases)
    if m.get("notes"):
        console.print("notes: " + ", ".join(f"{k} {v:,}" for k, v in m["notes"].items()))
    for w in m.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `build` and `report` to the `data` app."""
    app.command("build")(build_command)
    app.command("report")(report_command)
