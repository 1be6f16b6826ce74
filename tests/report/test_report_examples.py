"""The report's "What the model learns from" section: per source, its drops by reason and three kept records."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from emergent.config import load_config
from emergent.curate.build import build
from emergent.report.html import write_report
from emergent.report.source_examples import chat_html, drops_by_source, pick_examples

from .fake_run import DROPS, KEPT_ON_DISK

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "emergent" / "data" / "sample"


def card(html: str, source: str) -> str:
    m = re.search(rf'<details class="card source-examples" id="examples-{source}">(.*?)</details>', html, re.S)
    assert m, f"no examples card for {source}"
    return m.group(1)


def test_every_source_shows_its_drops_by_reason_and_three_kept_records(fake_run: Path) -> None:
    html = write_report(fake_run).read_text()
    assert '<section id="examples">' in html
    for source, on_disk in KEPT_ON_DISK.items():
        body = card(html, source)
        assert body.count('<div class="chat">') == min(3, on_disk), source
        for step, reason, n in DROPS[source]:
            stage = "ingest" if step == "quarantine" else step
            assert f"<td>{reason.replace('_', ' ')}</td><td>{stage}</td><td class='num'>{n:,}</td>" in body
        assert "no reason on file" not in body  # the fake run's drop files explain every dropped record
        assert f'href="#examples-{source}"' in html  # the sources table leads here
    assert "kept 150 of 300" in card(html, "counsel_chat")
    bfcl = card(html, "bfcl")
    assert "tools offered: get_weather" in bfcl and "→ get_weather({&quot;city&quot;" in bfcl
    assert '<span class="role">assistant</span>' in bfcl and '<span class="role">user</span>' in bfcl


def test_examples_are_a_seeded_pick_of_kept_records(fake_run: Path) -> None:
    data = fake_run / "data"
    first, again = pick_examples(data, seed=0), pick_examples(data, seed=0)
    assert first == again  # the report shows the same records every time it is written
    origins = {s: [c["_origin"] for c in recs] for s, recs in first.items()}
    assert all(o.startswith(f"{s}.jsonl:") for s, os in origins.items() for o in os)
    assert {s: len(os) for s, os in origins.items()} == {s: min(3, n) for s, n in KEPT_ON_DISK.items()}
    others = [pick_examples(data, seed=s) for s in (1, 2, 3)]
    assert any(o["self_instruct"] != first["self_instruct"] for o in others)  # 7 records: the seed matters


def test_turns_are_escaped_and_long_turns_cut_visibly() -> None:
    conv = {
        "messages": [
            {"role": "user", "content": "Is <b>this</b> & <script>alert(1)</script> shown?"},
            {"role": "assistant", "content": "x" * 1300},
        ],
        "_origin": "a.jsonl:1",
        "_category": "technical",
    }
    html = chat_html(conv)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html and "<b>this" not in html
    assert "x" * 1200 in html and "x" * 1201 not in html and "(100 more characters)" in html


def test_drops_without_a_reason_on_file_are_said(fake_run: Path) -> None:
    quarantine = fake_run / "data" / "quarantine.jsonl"
    lines = quarantine.read_text().splitlines(keepends=True)
    quarantine.write_text("".join(lines[1:]) + '{"source": "gsm8k", "reas')  # one line lost, one cut by a crash
    assert drops_by_source(fake_run / "data")["gsm8k"][("ingest", "missing_field")] == 3
    html = write_report(fake_run).read_text()
    assert "1 dropped records have no reason on file" in card(html, "gsm8k")


def test_real_build_of_the_bundled_sample(tmp_path: Path) -> None:
    """The new sample sources through a real build: every drop explained, three readable records each."""
    names = {
        "pubmedqa": "pubmedqa/ori_pqal.json",
        "medquad": "medquad/medquad_sample.tar.gz",
        "gpteacher_roleplay": "gpteacher-roleplay/roleplay.json",
    }
    cfg = {
        "name": "sample",
        "seed": 0,
        "output_dir": str(tmp_path / "run"),
        "sources": [{"name": n, "format": n, "path": str(SAMPLE / p)} for n, p in names.items()],
        "curate": {"workers": 0, "decontaminate": {"enabled": False}},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    manifest = build(load_config(tmp_path / "c.yaml"), tmp_path / "run" / "data", show_progress=False)
    html = write_report(tmp_path / "run").read_text()
    for name in names:
        body = card(html, name)
        s = manifest["sources"][name]
        assert f"kept {s['output']:,} of {s['input']:,}" in body
        assert body.count('<div class="chat">') == 3
        assert "no reason on file" not in body
    roleplay = card(html, "gpteacher_roleplay")
    assert "<td>sound effects only</td><td>ingest</td><td class='num'>1</td>" in roleplay
    assert "Study abstract:" in card(html, "pubmedqa")
