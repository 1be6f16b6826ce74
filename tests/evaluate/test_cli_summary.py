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
