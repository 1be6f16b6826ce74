"""`emergent eval CONFIG`, `eval suite --export FILE`, `eval score GENERATIONS -o DIR`, `eval style`, `eval prototypes`.

`emergent eval CONFIG` is shorthand for `emergent eval suite CONFIG`: the group routes any first
argument that is not a subcommand name to `suite` (a click group cannot take an optional positional
argument and subcommands at once — it would read "style" as the config path).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from emergent.errors import print_error

console = Console()
err_console = Console(stderr=True)


class _DefaultToSuite(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["suite", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=_DefaultToSuite,
    help="Evaluate base vs adapter on the suite (emergent eval CONFIG), score a generations file without a model "
    "(eval score), export the suite (eval suite --export), or score any replies' style (eval style).",
    no_args_is_help=True,
)


def _fail(err: Exception) -> None:
    print_error(err)
    raise typer.Exit(1)


def _ci(m: dict[str, Any] | None, fmt: str = "{:.2f}") -> str:
    if not m or m.get("mean") is None:
        return "–"
    lo, hi = m["ci95"]
    return f"{fmt.format(m['mean'])} [{fmt.format(lo)}, {fmt.format(hi)}]"


def _n(m: dict[str, Any] | None) -> str:
    return f" (n={m['n']})" if m and m.get("n") is not None else ""


def print_primary(result: dict[str, Any]) -> None:
    """The pre-declared primary metric first: overall, per context, and the paired tests."""
    p = result.get("primary")
    if not p:
        return
    sides = [s for s in result.get("sides", []) if s in p]
    table = Table(title=f"primary: {p['name'].replace('_', ' ')} (mean [95 % CI], n items)")
    table.add_column("context")
    for side in sides:
        table.add_column(side)
    if "difference" in p:
        table.add_column("adapter − base")
        table.add_column("paired test (Holm)")
    diff = p.get("difference") or {}
    overall = [_ci(p[s]) + _n(p[s]) for s in sides]
    if "difference" in p:
        overall += [_ci(diff, "{:+.2f}") + _n(diff), ""]
    table.add_row("all (macro over contexts)", *overall, style="bold")
    for c in p.get("contexts", []):
        cells = [_ci(p[s]["per_context"].get(c)) + _n(p[s]["per_context"].get(c)) for s in sides]
        if "difference" in p:
            d = diff.get("per_context", {}).get(c)
            t = (d or {}).get("mcnemar") or {}
            cells += [f"{d['mean']:+.2f} (n={d['n']})" if d else "–", str(t.get("verdict", "–"))]
        table.add_row(c, *cells)
    console.print(table)
    sp = p.get("spread")
    if sp:
        console.print(
            f"spread over {sp['n']} adapters ({', '.join(sp['sides'])}): mean {sp['mean']:.2f}, sd {sp['sd']:.2f}, "
            f"range [{sp['min']:.2f}, {sp['max']:.2f}]",
            highlight=False,
        )
    missing = {s: p[s].get("missing") for s in sides if p[s].get("missing")}
    if missing:
        console.print(
            "left out (no reply): " + ", ".join(f"{s} {k} items" for s, k in missing.items()), highlight=False
        )


def print_summary(result: dict[str, Any]) -> None:
    from emergent.evaluate.compare import SECONDARY
    from emergent.evaluate.metrics import REACHED_BY_CONTROLS

    print_primary(result)
    table = Table(
        title="secondary: register metrics (mean [95 % CI]) — the register scorer is 81 % right out of source"
    )
    table.add_column("metric")
    # Sides that answered the dialogues without history (no_history, ...) have no register metrics.
    sides = [s for s in result["sides"] if s in result["range"]]
    for side in [*sides, "difference"] if "adapter" in sides else sides:
        table.add_column(side if side != "difference" else "adapter − base")
    family = (result.get("tests") or {}).get("family") or []
    tested = {t.get("metric"): t for t in family if t.get("context") == "all"}
    # (figure, its value in a side's entry of eval.json, the paired difference); its label and direction are
    # emergent compare's. Figures a control reaches (metrics.REACHED_BY_CONTROLS) come last, marked, never tested.
    rows = [
        ("fit", lambda m: m.get("fit"), tested.get("fit")),
        ("consistency", lambda m: m, result["consistency"].get("difference")),
        ("range", lambda m: m, None),
        ("transitions", lambda m: m, None),
        ("depth", lambda m: m, None),
        ("collapse", lambda m: m.get("context_predictability", m), None),
    ]
    for figure, pick, diff in rows:
        name, sign = SECONDARY[figure]
        label = f"{name} {'↑' if sign > 0 else '↓'}"
        key = "range" if figure == "fit" else figure  # fit is a figure of range's entry
        if figure in REACHED_BY_CONTROLS:
            label, diff = label + " (reached by a control)", None
        cells = [_ci(pick(result[key][s])) + _n(pick(result[key][s])) for s in sides]
        if "adapter" in sides:
            cells.append(_ci(diff, "{:+.2f}") + _n(diff) if diff else "–")
        table.add_row(label, *cells)
    h = result.get("heldout")
    if h:  # per-token loss on the build's validation set; its CI is over conversations
        cells = [f"{h[s]['loss']:.3f}" if s in h else "–" for s in sides]
        if "difference" in h:
            cells.append(_ci(h["difference"], "{:+.4f}"))
        table.add_row(f"held-out loss ({h['examples']} conversations) ↓", *cells)
    console.print(table)
    for side in sides:
        per = result["range"][side]["per_context"]
        console.print(
            f"{side} context hit rate per context: "
            + ", ".join(f"{c} {m['mean']:.2f}" for c, m in per.items() if m["mean"] is not None),
            highlight=False,
        )
    c = result["contamination"]
    if c.get("checked"):
        console.print(
            f"contamination ({c['ngram']}-gram): {len(c['contaminated'])} of {c['items']} suite items", highlight=False
        )
    if result.get("judge"):
        j = result["judge"]
        parse = "–" if j["parse_rate"] is None else f"{j['parse_rate']:.0%}"
        console.print(
            f"judge ({j['pair'][0]} vs {j['pair'][1]}, {j['items']} items): win rate {_ci(j['win_rate'])}, "
            f"length-controlled {_ci(j['length_controlled_win_rate'])}, parse {parse}, flip {_ci(j['flip_rate'])}",
            highlight=False,
        )


@eval_app.command("suite")
def suite_command(
    config: Path | None = typer.Argument(None, help="Run config (YAML), e.g. configs/quickstart.yaml"),
    export: Path | None = typer.Option(
        None,
        "--export",
        help="Write the suite's items (id, context, kind, messages, checks, reference) to this JSONL and stop; "
        "without CONFIG, the full shipped suite",
    ),
    adapter: Path | None = typer.Option(
        None, "--adapter", help="LoRA adapter folder [default: OUTPUT_DIR/train/adapter]"
    ),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output folder [default: OUTPUT_DIR/eval]"),
    base_only: bool = typer.Option(False, "--base-only", help="Evaluate the base model alone"),
    data: Path | None = typer.Option(
        None, "--data", help="Built data folder: held-out loss and contamination [default: OUTPUT_DIR/data]"
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars"),
    full: bool = typer.Option(
        False, "--full", help="Every item of the suite: ignore the config's subset limits (prompts_per_context, ...)"
    ),
) -> None:
    """Generate the suite with base and adapter (same template and decoding), score, write eval.json."""
    from emergent.config import load_config
    from emergent.evaluate.config import full_suite
    from emergent.evaluate.run import evaluate

    if export is not None:
        _export(config, export)
        return
    if config is None:
        _fail(ValueError("eval suite needs a run config (e.g. configs/quickstart.yaml), or --export FILE.jsonl"))
    cfg = load_config(config)
    if full:
        cfg.eval = full_suite(cfg.eval)
    out = out or cfg.output_dir / "eval"
    try:
        result = evaluate(cfg, out, adapter, base_only=base_only, show_progress=not quiet, data_dir=data)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        _fail(err)
    print_summary(result)
    console.print(f"wrote {out / 'eval.json'} and {out / 'generations.jsonl'}", highlight=False)


def _suite_for(config: Path | None) -> tuple[Any, list[str], int, int]:
    """(suite, contexts, bootstrap samples, seed) of a config, or the full shipped suite and defaults."""
    from emergent.evaluate.config import EvalConfig
    from emergent.evaluate.run import suite_for
    from emergent.evaluate.suite import load_suite

    if config is None:
        ec, seed = EvalConfig(), 0
        return load_suite(ec.suites), ec.contexts, ec.bootstrap_samples, seed
    from emergent.config import load_config

    cfg = load_config(config)
    ec = cfg.eval
    return suite_for(ec), ec.contexts, ec.bootstrap_samples, cfg.seed


def _export(config: Path | None, path: Path) -> None:
    try:
        suite, _, _, _ = _suite_for(config)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for it in suite.items:
            f.write(json.dumps(it.export(), ensure_ascii=False) + "\n")
    checked = sum(1 for it in suite.items if it.checks)
    console.print(f"wrote {path}: {len(suite.items)} items ({checked} with checks)", highlight=False)


@eval_app.command("score")
def score_command(
    generations: Path = typer.Argument(..., help="generations.jsonl: side, id, kind, turn, context, prompt, response"),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for eval.json (and the scored generations.jsonl)"),
    config: Path | None = typer.Option(
        None, "--config", help="Run config whose eval suite the file answers [default: the full shipped suite]"
    ),
    prototypes: str = typer.Option("default", "--prototypes", help="Style-scorer prototypes [default: shipped]"),
) -> None:
    """Score a generations file without loading a model: checks, primary metric, tests and secondary metrics."""
    import time

    from emergent.evaluate.run import (
        read_generations,
        sandbox_layers,
        score_generations,
        suite_summary,
        write_generations,
    )
    from emergent.evaluate.scorer import StyleScorer
    from emergent.handoff import write_eval_result

    started = time.time()
    try:
        by_side = read_generations(generations)
        suite, contexts, n, seed = _suite_for(config)
        scorer = StyleScorer(prototypes)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    known = ("base", "prompted", "adapter")
    sides = [s for s in known if s in by_side] + sorted(set(by_side) - set(known))
    contexts = [c for c in contexts if c in suite.contexts()]
    scores = score_generations(suite, by_side, scorer, contexts, n, seed)
    result: dict[str, Any] = {
        "primary": scores.pop("primary"),
        "model": None,
        "adapter": None,
        "sides": sides,
        "device": None,
        "precision": None,
        "decoding": None,
        "prompted_system_prompt": None,
        "generations_reused": [],
        "suite": suite_summary(suite, [str(config)] if config else ["default"], contexts),
        "scorer": {"prototypes": prototypes, **scorer.protos.meta},
        "sandbox": sandbox_layers(),
        **scores,
        "heldout": None,
        "contamination": {"checked": False, "reason": f"scored from {generations}, no training data given"},
        "judge": None,
        "seconds": {"score": round(time.time() - started, 1), "total": round(time.time() - started, 1)},
        "scored_from": str(generations),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_eval_result(out / "eval.json", result)
    write_generations(out / "generations.jsonl", by_side)
    print_summary(result)
    console.print(f"wrote {out / 'eval.json'} and {out / 'generations.jsonl'}", highlight=False)


@eval_app.command("style")
def style_command(
    file: Path = typer.Argument(..., help="JSONL: one object per line with 'response' (optional 'prompt', 'context')"),
    out: Path | None = typer.Option(None, "-o", "--out", help="Write scored JSONL here [default: stdout]"),
    prototypes: str = typer.Option("default", "--prototypes", help="Prototype .npz [default: shipped]"),
) -> None:
    """Score any replies offline: predicted context and style profile per line."""
    from emergent.evaluate.run import read_jsonl
    from emergent.evaluate.scorer import StyleScorer

    try:
        rows = read_jsonl(file)
        scorer = StyleScorer(prototypes)
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    expected = [r.get("context") if r.get("context") in scorer.contexts else None for r in rows]
    scores = scorer.score([r["response"] for r in rows], expected)
    sink = open(out, "w", encoding="utf-8") if out else sys.stdout
    try:
        for r, s in zip(rows, scores, strict=True):
            sink.write(json.dumps({**r, **s}, ensure_ascii=False) + "\n")
    finally:
        if out:
            sink.close()
    counts = Counter(s["context"] for s in scores)
    err_console.print(
        f"{len(rows)} replies; predicted: " + ", ".join(f"{c} {n}" for c, n in counts.most_common()), highlight=False
    )
    labelled = [(e, s["context"]) for e, s in zip(expected, scores, strict=True) if e]
    if labelled:
        acc = sum(e == p for e, p in labelled) / len(labelled)
        err_console.print(f"context accuracy on {len(labelled)} labelled replies: {acc:.1%}", highlight=False)


@eval_app.command("prototypes")
def prototypes_command(
    data: Path | None = typer.Argument(
        None, help="A built data folder (RUN/data) to build from; omitted: the shipped hand-written build set"
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write the .npz (then set eval.prototypes to it)"),
    per_context: int = typer.Option(600, "--per-context", help="Assistant replies used per context"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Rebuild the register scorer's per-context prototypes: from the hand-written build set (the shipped
    default), or from the assistant side of curated data (circular if you evaluate on what you trained on)."""
    from emergent.evaluate.prototypes import texts_from_data, texts_from_written
    from emergent.evaluate.scorer import build_prototypes

    try:
        texts = texts_from_data(data, per_context, seed) if data else texts_from_written()
        protos = build_prototypes(texts, seed=seed, meta={"built_from": str(data) if data else "written"})
    except (FileNotFoundError, ValueError) as err:
        _fail(err)
    protos.save(out)
    console.print(f"wrote {out}: " + ", ".join(f"{c} {n}" for c, n in protos.meta["counts"].items()), highlight=False)


def register(app: typer.Typer) -> None:
    """Add `emergent eval ...` to the root app."""
    app.add_typer(eval_app, name="eval")
