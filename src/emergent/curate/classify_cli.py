"""`emergent data classify` and `emergent data train-classifier` (registered by emergent.cli)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
BATCH = 2048
EMBEDDING_HEAD = "embedding_head.npz"  # written beside the fast model by train-classifier


def line_text(record: Any) -> str:
    """The classifier's input for one JSONL record: OpenAI {messages, tools?}, alpaca {instruction, input, output} or {text}."""
    from emergent.curate.classifier_data import classifier_text
    from emergent.data.formats.generic import convert
    from emergent.errors import Reject

    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if "messages" in record:
        flavour = "openai"
    elif "instruction" in record:
        flavour = "alpaca"
    elif isinstance(record.get("text"), str):
        return record["text"]
    else:
        raise ValueError("expected {messages: [...]}, {instruction, input, output} or {text: ...}")
    try:
        conv = convert(record, SimpleNamespace(column_map={}), flavour=flavour)
    except Reject as rej:
        raise ValueError(f"{flavour} record: {rej}") from None
    return classifier_text(conv)


def _batches(stream: TextIO) -> Iterator[list[tuple[int, str | None, str | None]]]:
    """(line number, text or None, error or None) in batches, so huge files stream."""
    batch: list[tuple[int, str | None, str | None]] = []
    for n, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            batch.append((n, line_text(json.loads(raw)), None))
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            batch.append((n, None, f"line {n}: {err}"))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def classify_command(
    file: str = typer.Argument(
        ..., help="JSONL file (or - for stdin); each line {messages}, {instruction, input, output} or {text}."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="A model from `train-classifier` (default: the shipped one)."
    ),
    embeddings: bool = typer.Option(
        False,
        "--embeddings",
        help="Use the MiniLM embedding model (more accurate on unfamiliar text, ~1000x slower; prints its rate).",
    ),
) -> None:
    """Print one JSON object per input line: category, confidence, top3 (a bad line prints {"error": ...})."""
    import time

    from emergent.curate.classifier import DEFAULT_MODEL, Classifier, load_default_classifier

    if embeddings:
        from emergent.curate.classifier_embed import EmbeddingClassifier

        clf: Any = EmbeddingClassifier.load(model or DEFAULT_MODEL.with_name(EMBEDDING_HEAD))
        clf.encoder.load()  # before the clock starts: the rate printed is the rate of classifying
    else:
        clf = Classifier.load(model) if model else load_default_classifier()
    if file != "-" and not Path(file).is_file():
        raise typer.BadParameter(f"{file} not found — pass a JSONL file or - for stdin")
    stream = sys.stdin if file == "-" else open(file, encoding="utf-8")
    out = sys.stdout
    done, started = 0, time.process_time()
    try:
        for batch in _batches(stream):
            texts = [t for _, t, _ in batch if t is not None]
            tops = iter(clf.top(texts, k=3)) if texts else iter(())
            done += len(texts)
            for n, _, error in batch:
                if error is not None:
                    out.write(json.dumps({"line": n, "error": error}, ensure_ascii=False) + "\n")
                    continue
                top3 = next(tops)
                row = {
                    "line": n,
                    "category": top3[0][0],
                    "confidence": round(top3[0][1], 4),
                    "top3": [[c, round(p, 4)] for c, p in top3],
                }
                out.write(json.dumps(row) + "\n")
    finally:
        if stream is not sys.stdin:
            stream.close()
    if embeddings:
        seconds = time.process_time() - started
        console.print(
            f"embedding path: {done:,} conversations in {seconds:.1f} CPU-s ({done / max(seconds, 1e-9):,.1f} per CPU-second)"
        )


def train_classifier_command(
    config: Path = typer.Argument(
        ..., help="YAML with labelled sources and a `classifier:` section (configs/classifier.yaml)."
    ),
    out: Path = typer.Option(
        ..., "-o", "--out", help="Model file to write (.npz); metrics go beside it as <name>.metrics.json."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train the category classifier; print the hand-written test half and leave-one-source-out scores."""
    from emergent.curate.classifier_train import load_classifier_config, train_from_config

    if out.suffix != ".npz":
        raise typer.BadParameter(f"{out}: the model file must end in .npz")
    cfg, settings = load_classifier_config(config)
    report = train_from_config(cfg, settings, out, show_progress=not quiet)
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    out = Console()
    pool = Table(title="training pool (capped per source; whole conversation + request alone)")
    pool.add_column("category")
    pool.add_column("examples by source")
    for label, per in report["pool"].items():
        pool.add_row(label, ", ".join(f"{s} {n:,}" for s, n in per.items()))
    out.print(pool)
    _print_eval(out, "hand-written test half (never trained on)", report["handwritten_test"])
    if "handwritten_test_teacher" in report:
        t = report["handwritten_test_teacher"]
        out.print(
            f"embedding model (--embeddings) on the same half: macro F1 {t['macro_f1']:.3f}, accuracy {t['accuracy']:.1%}"
        )
    if "leave_one_source_out" in report:
        loso = report["leave_one_source_out"]
        _print_eval(out, "leave-one-source-out (each source scored by a model trained without it)", loso)
        for name, s in loso["per_source"].items():
            out.print(f"  {name} ({s['label']}): {s['accuracy']:.1%} of {s['examples']}")
        if "leave_one_source_out_teacher" in report:
            t = report["leave_one_source_out_teacher"]
            out.print(
                f"embedding model, leave-one-source-out: macro F1 {t['macro_f1']:.3f}, accuracy {t['accuracy']:.1%}"
            )
    out.print(
        f"wrote [bold]{report['model']}[/] ({report['model_bytes'] / 1e6:.2f} MB) and {report['metrics_file']} in {report['seconds']} s"
    )


def _print_eval(out: Console, title: str, ev: dict[str, Any]) -> None:
    macro = f", macro F1 {ev['macro_f1']:.3f}" if "macro_f1" in ev else ""
    table = Table(title=f"{title}: accuracy {ev['accuracy']:.1%}{macro} on {ev['examples']:,}")
    table.add_column("category")
    table.add_column("precision", justify="right")
    table.add_column("recall", justify="right")
    table.add_column("F1", justify="right")
    table.add_column("support", justify="right")
    for label, m in ev["per_class"].items():
        table.add_row(
            label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m.get('f1', 0):.3f}", f"{m['support']:,}"
        )
    out.print(table)
    short = [name[:5] for name in ev["labels"]]
    confusion = Table(title="confusion (rows: true, columns: predicted)")
    confusion.add_column("")
    for s in short:
        confusion.add_column(s, justify="right")
    for name, row in zip(ev["labels"], ev["confusion"], strict=True):
        confusion.add_row(name, *(str(v) if v else "." for v in row))
    out.print(confusion)


def register(app: typer.Typer) -> None:
    """Add the classifier commands to the `data` app."""
    app.command("classify")(classify_command)
    app.command("train-classifier")(train_classifier_command)
