"""`emergent data ingest` + `data preview` on the bundled sample (the quickstart's sources)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from emergent.cli import app
from emergent.data.store import count_conversations, read_conversations
from emergent.schema import CATEGORIES, validate_conversation

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


def test_ingest_bundled_sample_and_preview(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["data", "ingest", str(QUICKSTART), "-o", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for name, s in manifest["sources"].items():
        assert s["input"] == s["accepted"] + s["quarantined"], name
        assert s["accepted"] > 0, f"{name}: nothing accepted from the bundled sample: {s['reasons']}"
        assert s["license"], name
        assert s["reasons"].get("convert_error", 0) == 0, f"{name}: converter bug: {s}"
    assert count_conversations(tmp_path) == manifest["counts"]["accepted"]
    convs = list(read_conversations(tmp_path))
    assert {c["_category"] for c in convs} - {None} <= set(CATEGORIES)
    assert all(validate_conversation(c) is None for c in convs)
    # The id is derived from source + content: equal ids only for identical records (exact dedup's job).
    by_id: dict = {}
    for c in convs:
        assert by_id.setdefault(c["_id"], c["messages"]) == c["messages"]
    # Every shipped record keeps its provenance.
    assert all(c["_origin"] and c["_license"] and c["_source"] for c in convs)

    preview = runner.invoke(app, ["data", "preview", str(tmp_path), "-n", "3"])
    assert preview.exit_code == 0, preview.output
    assert "user:" in preview.output and "assistant" in preview.output


def test_ids_are_stable_across_runs(tmp_path: Path) -> None:
    from emergent.config import load_config
    from emergent.data.ingest import ingest

    cfg = load_config(QUICKSTART)
    sources = [s for s in cfg.sources if s.name in ("gsm8k", "humaneval")]
    ingest(sources, cfg.ingest, tmp_path / "a", show_progress=False)
    ingest(sources, cfg.ingest, tmp_path / "b", show_progress=False)
    ids_a = [c["_id"] for c in read_conversations(tmp_path / "a")]
    ids_b = [c["_id"] for c in read_conversations(tmp_path / "b")]
    assert ids_a == ids_b and len(ids_a) > 100
