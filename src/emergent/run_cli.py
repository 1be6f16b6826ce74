"""`emergent run`, `emergent report` and `emergent chat`: thin wiring onto run.py, report/ and chat.py
(registered onto the root app by emergent.cli)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from emergent.config import load_config
from emergent.errors import print_error

DEFAULT_CONFIG = Path("configs/quickstart.yaml")
STAGE_TITLES = {
    "data": "1/3 data: ingest + curate",
    "train": "2/3 train: curriculum",
    "eval": "3/3 eval: base vs adapter",
}


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
    seeds: str | None = typer.Option(
        None,
        "--seeds",
        help="Train once per seed (e.g. 0,1,2) on one data build and compare the runs: RUN/runs/<name>-seed<k>, "
        "RUN/compare. Replaces the seeds of a config's study: section.",
    ),
) -> None:
    """The main job: build the mixture, train through the curriculum, evaluate base vs adapter, write the report.

    Stages that finished with the same config are reused (RUN/stages.json); --fresh redoes them. A stage
    interrupted (Ctrl-C, kill) continues where it stopped when rerun with the same config. A config with a
    `study:` section (variants x seeds), or --seeds, trains every member on one data build and compares them.
    """
    from emergent.report.summary import print_run_summary
    from emergent.run import run_pipeline

    cfg = load_config(config)
    if output_dir is not None:
        cfg.output_dir = output_dir.resolve()
    console = Console()
    skip = {s for s, flag in (("data", skip_data), ("train", skip_train), ("eval", skip_eval)) if flag}

    def on_stage(stage: str, event: str) -> None:
        console.rule(f"[bold]{STAGE_TITLES[stage]}")

    if seeds is not None or cfg.study is not None:
        _run_study(config, output_dir, _parse_seeds(seeds), skip, fresh, resume, progress, console, on_stage)
        return

    outcome = run_pipeline(cfg, skip=skip, fresh=fresh, resume=resume, show_progress=progress, on_stage=on_stage)
    print_run_summary(outcome, console)
    if outcome.error is not None:
        raise typer.Exit(1)


def _parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        print_error(f"--seeds {text!r}: expected comma-separated integers, e.g. --seeds 0,1,2")
        raise typer.Exit(2) from None
    if not seeds or len(set(seeds)) != len(seeds):
        print_error(f"--seeds {text!r}: give at least one seed, each once")
        raise typer.Exit(2)
    return seeds


def _run_study(config, output_dir, seeds, skip, fresh, resume, progress, console, on_stage) -> None:
    from emergent.report.summary import print_run_summary
    from emergent.study import plan, run_study

    root_cfg, members = plan(config, seeds, output_dir)
    console.print(
        f"study: {len(members)} runs ({', '.join(m.run_dir.name for m in members)}) on one data build in "
        f"{root_cfg.output_dir}",
        highlight=False,
    )

    def on_member(m) -> None:
        console.rule(f"[bold]{m.run_dir.name}")

    outcome = run_study(
        root_cfg, members, skip=skip, fresh=fresh, resume=resume, show_progress=progress, on_stage=on_stage,
        on_member=on_member,
    )  # fmt: skip
    print_run_summary(outcome.data, console)
    for _, o in outcome.members:
        print_run_summary(o, console)
    if outcome.compare_dir is not None:
        console.print(f"compare     [bold]{outcome.compare_dir / 'compare.html'}[/]", highlight=False)
    if outcome.compare_error:
        console.print(f"[bold red]compare failed:[/] {escape(outcome.compare_error)}", highlight=False)
    if not outcome.ok:
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
    from emergent.chat import ChatSession, chat_loop, load_chat_model

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


def compare_command(
    runs: list[Path] = typer.Argument(
        ..., metavar="RUN_DIR", help="Evaluated run folders (RUN/eval/eval.json), or eval folders"
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for compare.json, compare.md and compare.html"),
    reference: str = typer.Option(
        "base", "--reference", help="The system every other is compared with: a side (base, prompted), a run or a group"
    ),
    group: list[str] = typer.Option(
        [],
        "--group",
        help="NAME=RUN,RUN: runs of one variant (seeds); repeatable. Without it, runs whose folder "
        "names differ only by a seed suffix (lr10-seed0, lr10-seed1) form the group lr10",
    ),
    samples: int = typer.Option(1000, "--samples", min=100, help="Bootstrap resamples of every CI"),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed: the same files give the same numbers"),
) -> None:
    """Several evaluated runs side by side on the same suite items: the primary and secondary metrics, paired
    differences against a reference with 95 % CIs and Holm-corrected p, seed spread, training cost.

    Each (run, side) is a system: the adapter is named after its run folder, base/prompted/no_history after the
    side; identical replies (the base of several runs) are shown once. Runs evaluated on other suites, decodings
    or base models are refused.
    """
    from emergent.evaluate.compare import CompareError, compare_runs
    from emergent.report.compare_page import group_line, rich_table, write_comparison

    console = Console()

    groups: dict[str, list[str]] = {}
    for g in group:
        name, _, members = g.partition("=")
        if not name or not members:
            print_error(f"--group {g}: expected NAME=RUN,RUN (run folder names)")
            raise typer.Exit(2)
        groups[name] = [m.strip() for m in members.split(",") if m.strip()]
    try:
        c = compare_runs(runs, reference, groups, samples, seed)
    except CompareError as err:
        print_error(err)
        raise typer.Exit(2) from None
    console.print(rich_table(c))
    for w in c.warnings:
        console.print(f"[yellow]⚠[/] {w}", highlight=False)
    for g in c.groups:
        if g.mean is not None:
            console.print(group_line(c, g), highlight=False)
    paths = write_comparison(c, out)
    console.print("wrote " + ", ".join(str(p) for p in paths), highlight=False)


def register(app: typer.Typer) -> None:
    """Add `run`, `report` and `chat` to the root app."""
    app.command("run")(run_command)
    app.command("report")(report_command)
    app.command("chat")(chat_command)
    app.command("compare")(compare_command)
