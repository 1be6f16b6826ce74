"""The held-out loss in the report: the curve and bucket table in Training, the base-vs-adapter card in
Evaluation, the KPI, the end-of-run lines and the model card; runs from before the held-out set still render."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

from emergent.report.html import write_report
from emergent.report.model_card import write_model_card
from emergent.report.results import load_run
from emergent.report.summary import stage_line

from .fake_run import HELDOUT_BASE, PHASES, STEPS_PER_PHASE, heldout_loss, make_fake_run
from .test_report_html import section

NS = "{http://www.w3.org/2000/svg}"


def table_rows(html: str) -> dict[str, list[str]]:
    """{first cell: [other cells]} of every table row, tags stripped."""
    out = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        cells = [
            unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)
        ]
        out[cells[0]] = cells[1:]
    return out


def card(html: str, title: str) -> str:
    """A card's content, from its heading to the next heading."""
    start = html.index(f"<h3>{title}</h3>")
    end = html.find("<h3>", start + 1)
    return html[start : end if end > 0 else len(html)]


def svgs(html: str, label: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg[^>]*>.*?</svg>", html, re.S) if f'aria-label="{label}"' in s]


def heldout_paths(chart: ET.Element) -> list[list[tuple[float, float]]]:
    """The points of each drawn series titled "held-out loss"."""
    out = []
    for path in chart.iter(f"{NS}path"):
        title = path.find(f"{NS}title")
        if title is not None and title.text == "held-out loss":
            out.append([tuple(map(float, p[1:].split(","))) for p in path.get("d").split()])
    return out


def bucket_row(bucket: str) -> list[str]:
    """The expected table row: base, then each phase end (not the mid-phase records the log also holds)."""
    ends = [STEPS_PER_PHASE * (k + 1) for k in range(len(PHASES))]
    change = heldout_loss(bucket, ends[-1]) - heldout_loss(bucket, 0)
    return ["4"] + [f"{heldout_loss(bucket, s):.3f}" for s in [0, *ends]] + [f"{change:+.4f}"]


def test_training_shows_the_curve_and_the_bucket_table(fake_run: Path) -> None:
    curve = load_run(fake_run).validation_curve()
    assert curve[:3] == [(0.0, 2.225), (4.0, 2.2218), (8.0, 2.2186)] and curve[-1] == (40.0, 2.193)
    training = section(write_report(fake_run).read_text(), "training")
    assert training.count("<svg") == 4  # timeline, lr, loss (+ held-out series), held-out on its own scale
    # The loss chart carries the held-out series: the base at step 0 (the chart's left edge), two records a phase.
    (loss,) = svgs(training, "loss curve")
    (points,) = heldout_paths(loss)
    assert len(points) == 1 + 2 * len(PHASES) and points[0][0] == 62.0
    (zoomed,) = svgs(training, "held-out loss during training")
    (zoomed_points,) = heldout_paths(zoomed)
    assert len(zoomed_points) == len(points)
    ticks = [t.text for t in zoomed.iter(f"{NS}text") if t.get("class") == "tick"]
    assert len(ticks) == len(set(ticks))  # a change in the third decimal still gets distinct axis labels

    rows = table_rows(card(training, "Held-out loss by bucket, before training and after each phase"))
    assert rows["bucket"] == ["n", "base", "phase1", "phase2", "phase3", "phase4", "phase5", "base → final"]
    for bucket in HELDOUT_BASE:
        assert rows[bucket] == bucket_row(bucket), bucket
    assert rows["all"] == ["16", "2.225", "2.219", "2.212", "2.206", "2.199", "2.193", "-0.0320"]


def test_evaluation_card_with_paired_intervals_and_verdicts(fake_run: Path) -> None:
    evaluation = section(write_report(fake_run).read_text(), "evaluation")
    held = card(evaluation, "Held-out loss")
    assert "16 conversations held out of every training phase (2,400 assistant tokens)" in held
    assert "shows learning even when a small budget leaves the generations unchanged" in held
    rows = table_rows(held)
    assert rows["all held-out"] == ["16", "2.2251", "2.1932", "-0.0318 [-0.0410, -0.0227]", "adapter better"]
    # Buckets: one Holm family (p 0.001, 0.01 -> 0.002, 0.01), no verdict below 20 conversations.
    assert rows["technical"][-2:] == ["-0.0981 [-0.1203, -0.0755]", "adapter better pHolm=0.002"]
    assert rows["analytical"][-1] == "adapter worse pHolm=0.01"  # lower is better: a higher loss is worse
    assert rows["creative"][-1] == "no verdict (n = 4 < 20)"
    assert rows["empathetic"][-1] == "no verdict (n = 4 < 20)"
    assert "no assistant tokens within max seq len 1" in held
    (chart,) = svgs(held, "held-out loss difference per bucket")
    dots = {c.find(f"{NS}title").text.split(":")[0]: c.get("fill") for c in chart.iter(f"{NS}circle")}
    assert dots == {
        "all held-out": "#2bb39a",
        "analytical": "#e8744f",
        "creative": "#9aa5b8",
        "empathetic": "#9aa5b8",
        "technical": "#2bb39a",
    }
    assert len([p for p in chart.iter(f"{NS}path") if p.get("class") == "whisker"]) == 5


def test_kpi_end_of_run_lines_and_model_card(fake_run: Path) -> None:
    html = write_report(fake_run).read_text()
    assert "<span>held-out loss</span><b>2.193</b><small>base 2.225, Δ -0.0318</small>" in html
    assert stage_line("train", {}, fake_run).endswith(", validation loss 2.225 → 2.193")
    assert stage_line("eval", {}, fake_run).endswith("; held-out loss 2.225 → 2.193 (-0.0318 [-0.0410, -0.0227])")
    text = write_model_card(fake_run).read_text()
    assert "| Held-out loss (nats per token) | 2.2251 | 2.1932 | -0.0318 [-0.0410, -0.0227] |" in text


def test_phase_files_table_lists_the_held_out_set(fake_run: Path) -> None:
    rows = table_rows(card(section(write_report(fake_run).read_text(), "sources"), "Curriculum phase files"))
    held = rows["held out: validation.parquet"]
    assert held[1:] == ["16", "3,100"] and all(f"{b} 4" in held[0] for b in HELDOUT_BASE)


def test_a_run_from_before_the_heldout_set(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "old", heldout=False)
    html = write_report(run).read_text()
    training, evaluation = section(html, "training"), section(html, "evaluation")
    assert "held-out" not in (training + evaluation).lower() and "<span>held-out loss</span><b>" not in html
    assert "held out:" not in section(html, "sources")
    assert training.count("<svg") == 3 and evaluation.count("<svg") == 1 + 2 + 8 + 3
    assert "validation loss" not in stage_line("train", {}, run)
    assert "held-out" not in stage_line("eval", {}, run)
    assert "Held-out loss (nats" not in write_model_card(run).read_text()
    # An evaluation run on data without a held-out set writes "heldout": null.
    ev = json.loads((run / "eval" / "eval.json").read_text())
    (run / "eval" / "eval.json").write_text(json.dumps({**ev, "heldout": None}))
    assert "<h3>Held-out loss</h3>" not in write_report(run).read_text()


def test_base_only_evaluation(fake_run: Path) -> None:
    ev = json.loads((fake_run / "eval" / "eval.json").read_text())
    held = ev["heldout"]
    for key in ("adapter", "difference"):
        held.pop(key)
    for node in held["by_category"].values():
        node.pop("adapter"), node.pop("difference")
    (fake_run / "eval" / "eval.json").write_text(json.dumps(ev))
    html = write_report(fake_run).read_text()
    rows = table_rows(card(section(html, "evaluation"), "Held-out loss"))
    assert rows["all held-out"] == ["16", "2.2251", "n/a", "n/a", "n/a"]
    assert "<span>held-out loss</span><b>" not in html
    assert "held-out" not in stage_line("eval", {}, fake_run)


def test_truncated_log_and_a_summary_without_log(fake_run: Path) -> None:
    log = fake_run / "train" / "validation.jsonl"
    log.write_text(log.read_text() + '{"phase": "phase5_fine_tu')  # cut by a crash mid-write
    (loss,) = svgs(section(write_report(fake_run).read_text(), "training"), "loss curve")
    assert len(heldout_paths(loss)[0]) == 1 + 2 * len(PHASES)

    # Only the summary (e.g. a copied train_summary.json): base and phase ends still place the curve.
    log.unlink()
    assert [x for x, _ in load_run(fake_run).validation_curve()] == [0.0, 8.0, 16.0, 24.0, 32.0, 40.0]
    training = section(write_report(fake_run).read_text(), "training")
    (loss,) = svgs(training, "loss curve")
    assert len(heldout_paths(loss)[0]) == 1 + len(PHASES)
    assert table_rows(training)["all"][-1] == "-0.0320"

    # Only the log (training stopped before the summary had validation fields): the last record per phase.
    make_fake_run(fake_run)
    summary_file = fake_run / "train" / "train_summary.json"
    summary = json.loads(summary_file.read_text())
    summary["validation"] = None
    for p in summary["phases"]:
        p["validation_loss"] = p["validation_by_category"] = None
    summary_file.write_text(json.dumps(summary))
    rows = table_rows(section(write_report(fake_run).read_text(), "training"))
    assert rows["technical"] == bucket_row("technical") and rows["all"][0] == "16"  # n from the manifest
