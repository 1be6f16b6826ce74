"""The report leads the evaluation with the primary metric, read from eval.json (the `eval score` shape)."""

from __future__ import annotations

import json
from pathlib import Path

from controls import CONTROLS, POSITIVE, generations

from emergent.evaluate import stats
from emergent.evaluate.primary import primary
from emergent.evaluate.suite import load_suite
from emergent.report.eval_sections import evaluation_section, headline_rows
from emergent.report.results import load_run


def test_the_evaluation_section_leads_with_the_primary_metric(tmp_path: Path):
    items = load_suite(["default"]).prompts
    rows = {
        "base": generations(items, CONTROLS["generic"], "base"),
        "adapter": generations(items, POSITIVE["reference"], "adapter"),
    }
    head, tests, _ = primary(items, rows, n=200)
    stats.verdicts(tests)
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "eval.json").write_text(json.dumps({"primary": head, "sides": ["base", "adapter"]}))
    r = load_run(tmp_path)
    label, base, adapter, diff, better = headline_rows(r)[0]
    assert label.startswith("Appropriate-response rate") and base.mean == 0.0 and adapter.mean == 1.0
    html = evaluation_section(r)
    assert html.index("Primary metric: appropriate-response rate") < html.index("Headline metrics")
    assert "adapter better" in html and "n=" in html and "McNemar" in html
    # What the register numbers below are worth: the scorer's accuracy, and which figures a control reaches.
    assert "right about 81 % of the time" in html and "reached by a control" in html
