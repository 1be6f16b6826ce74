"""The terminal summary of `emergent eval suite` / `eval score` with every kind of side."""

from __future__ import annotations

import json
from pathlib import Path

from emergent.evaluate import cli

PROOF_EVAL = Path(__file__).resolve().parents[2] / "docs" / "proof" / "curriculum-lr10-seed0" / "eval" / "eval.json"


def test_summary_prints_a_run_with_a_no_history_side(capsys) -> None:
    # A run with eval.sides [base, adapter, no_history] wrote eval.json and then crashed here (KeyError
    # 'no_history', session 12): the no-history sides answer only the dialogues, so they have no register
    # metrics and no held-out loss. The committed proof evaluation, with that side added, is the same shape.
    result = json.loads(PROOF_EVAL.read_text())
    result["sides"] = [*result["sides"], "no_history"]
    cli.print_summary(result)
    out = capsys.readouterr().out
    assert "held-out loss" in out and "adapter context hit rate per context" in out
    assert "no_history per context" not in out


def test_summary_marks_exactly_the_figures_a_control_reaches(capsys, monkeypatch) -> None:
    # The marks come from metrics.REACHED_BY_CONTROLS: a figure added there is marked here, and a marked
    # figure shows no adapter − base interval (it is never tested).
    from rich.console import Console

    from emergent.evaluate.metrics import REACHED_BY_CONTROLS

    monkeypatch.setattr(cli, "console", Console(width=300))  # one table row per line
    cli.print_summary(json.loads(PROOF_EVAL.read_text()))
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.count("│") > 3}
    marked = {label for label in rows if "(reached by a control)" in label}
    assert len(marked) == len(REACHED_BY_CONTROLS) == 4
    assert not any(label.startswith(("register fit", "consistency")) for label in marked)
    for label in marked:
        assert rows[label].rstrip(" │").endswith("–")
