"""The HTML report: every section filled from a finished run, n/a (never a crash) from partial or odd runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emergent.cli import app
from emergent.handoff import HandoffError
from emergent.report.html import write_report
from emergent.report.results import load_run

from .fake_run import make_fake_run

SECTIONS = ("data", "composition", "sources", "examples", "training", "evaluation", "samples")


def section(html: str, name: str) -> str:
    m = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert m, f"section {name} missing"
    return m.group(1)


def test_full_run_fills_every_section(fake_run: Path) -> None:
    html = write_report(fake_run).read_text()
    for name in SECTIONS:
        assert "n/a" not in section(html, name).replace("no CI", ""), name
    # charts: funnel + reasons, composition, timeline + lr + loss + held-out loss, per-context bars + held-out
    # differences + 2 heatmaps + 8 radars + 3 trajectories
    assert section(html, "data").count("<svg") == 2
    assert section(html, "composition").count("<svg") == 1
    assert section(html, "training").count("<svg") == 4
    assert section(html, "evaluation").count("<svg") == 1 + 1 + 2 + 8 + 3
    # composition bands drawn for the ten buckets, one bar each
    assert section(html, "composition").count('class="band"') == 10
    assert ">from config</th>" in section(html, "composition") and ">classified</th>" in section(html, "composition")
    # the funnel adds up and the dropped counts appear
    assert "Adds up: input 2,700" in html and "(−175)" in html
    # licences per source, phase learning rates, headline CIs, verdicts
    assert "CC-BY-4.0" in html and "Public-Domain" in html
    assert "2.0e-05" in html and "3.0e-06" in html
    ev = json.loads((fake_run / "eval" / "eval.json").read_text())
    adapter = ev["range"]["adapter"]
    assert f"{adapter['mean']:.3f} [{adapter['ci95'][0]:.3f}, {adapter['ci95'][1]:.3f}]" in html
    assert "adapter better" in html  # the fake adapter hits its context far more often than the base
    # ... but the context hit rate is a figure a control reaches: shown with its interval, given no verdict.
    assert section(html, "evaluation").count('<span class="pill na">not evidence</span>') == 4
    # the topic shift is marked on each transition trajectory, and the contamination check is reported
    assert section(html, "evaluation").count("topic shift") == 3
    assert "1 of 29 suite items share a 13-gram" in html


def test_report_is_self_contained_and_escaped(fake_run: Path) -> None:
    html = write_report(fake_run).read_text()
    assert "<script" not in html and "<link" not in html and "@import" not in html
    urls = set(re.findall(r"https?://[^\s\"')]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    # user text is escaped, never markup
    assert "&lt;with markup&gt;" in html and "<with markup>" not in html
    # side by side: both models' answers to the same prompt
    samples = section(html, "samples")
    assert "Sure. Here is an answer about technical &lt;b&gt;technical-0&lt;/b&gt;." in samples
    assert "items[::-1]" in samples


def test_partial_run_shows_what_is_missing(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", train=False, evaluate=False)
    html = write_report(run).read_text()
    assert "Adds up" in html
    assert "emergent train CONFIG" in section(html, "training")
    assert "emergent eval CONFIG" in section(html, "evaluation")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "emergent data build CONFIG" in section(write_report(empty).read_text(), "data")


def test_a_file_that_does_not_fit_its_record_names_the_file_and_the_field(fake_run: Path) -> None:
    """Floats instead of {mean, ci95} fail loudly, naming the file and the field; an older file with fewer keys,
    metrics without global_step and a truncated line still give a report."""
    ev = json.loads((fake_run / "eval" / "eval.json").read_text())
    ev["range"]["base"]["per_context"]["technical"] = "0.5"
    (fake_run / "eval" / "eval.json").write_text(json.dumps(ev))
    with pytest.raises(HandoffError, match=r"eval\.json: range\.base\.per_context\.technical"):
        load_run(fake_run)
    (fake_run / "eval" / "eval.json").unlink()
    lines = [json.loads(x) for x in (fake_run / "train" / "metrics.jsonl").read_text().splitlines()]
    for x in lines:
        x.pop("global_step")
    (fake_run / "train" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"loss": 1.')
    (fake_run / "data" / "manifest.json").write_text(
        json.dumps({"counts": {"input": 10, "output": 4}, "sources": {"a": {}}})
    )
    html = write_report(fake_run).read_text()
    assert "n/a" in html
    assert section(html, "training").count("<svg") == 4


def test_loader_reads_real_trainer_layout(fake_run: Path) -> None:
    """phases as a list and phase boundaries from the metrics' own phase names."""
    r = load_run(fake_run)
    assert r.phases()[0].name == "phase1_foundation"
    assert r.base_model == "smollm2-135m-instruct"
    assert r.contexts()[:2] == ["technical", "empathetic"]


def test_report_command(fake_run: Path, tmp_path: Path) -> None:
    shutil.rmtree(fake_run / "eval")
    result = CliRunner().invoke(app, ["report", str(fake_run)])
    assert result.exit_code == 0, result.output
    assert (fake_run / "report.html").is_file()
    assert (fake_run / "train" / "adapter" / "README.md").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "run folder not found" in bad.output


def test_training_names_the_engine_of_a_multi_process_run(fake_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "multi"
    shutil.copytree(fake_run, run)
    summary_file = run / "train" / "train_summary.json"
    summary = json.loads(summary_file.read_text())
    assert "processes" not in section(write_report(run).read_text(), "training")  # one process: nothing said
    summary_file.write_text(json.dumps({**summary, "world_size": 8, "distributed": "FSDP"}))
    assert "FSDP × 8 processes" in section(write_report(run).read_text(), "training")
    summary_file.write_text(json.dumps({**summary, "world_size": 2, "distributed": "MULTI_GPU"}))
    assert "DDP × 2 processes" in section(write_report(run).read_text(), "training")
