"""The whole build on small hand-made corpora: accounting, outputs, determinism, kill-and-rerun, CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from emergent.config import load_config
from emergent.curate.build import ACCOUNTED_PARTS, build
from emergent.data.store import read_conversations

VOCAB = (
    "river mountain garden kitchen window letter museum harbour engine market teacher student village bridge forest "
    "library ocean island desert castle planet signal network battery camera doctor farmer painter singer writer "
    "bicycle journey morning evening winter summer autumn spring coffee bread cheese apple orange lemon carrot "
    "silver golden purple yellow quiet bright gentle rapid ancient modern careful clever honest simple strange"
).split()
EVAL_PROMPT = (
    "Describe the journey of a golden bicycle across the ancient desert toward the quiet harbour at evening light"
)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n)).capitalize() + "."


def _openai(user: str, assistant: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]})


def make_corpora(folder: Path, n: int = 120, seed: int = 0) -> dict[str, int]:
    """Three sources with planted exact and near duplicates, spam, an eval leak and a too-short row."""
    rng = random.Random(seed)
    a, b, c = [], [], []
    for _ in range(n):
        a.append(_openai(_sentence(rng, 12), _sentence(rng, 40)))
    for _ in range(n // 2):
        b.append(_openai(_sentence(rng, 12), _sentence(rng, 40)))
    c = [_openai(_sentence(rng, 10), _sentence(rng, 30)) for _ in range(n // 2)]
    # Exact duplicates: same text up to case and spacing, in another source.
    for line in a[:5]:
        rec = json.loads(line)
        for m in rec["messages"]:
            m["content"] = "  " + m["content"].replace(" ", " \t ").upper()
        b.append(json.dumps(rec))
    # Near duplicates: one word changed in a long record.
    for line in a[5:10]:
        rec = json.loads(line)
        words = rec["messages"][1]["content"].split()
        words[-1] = "zeppelin."  # one word changed: Jaccard of 5-gram shingles ~0.96
        rec["messages"][1]["content"] = " ".join(words)
        c.append(json.dumps(rec))
    c.append(_openai("Repeat after me please", "spam spam eggs " * 40))
    c.append(_openai("hi", "ok"))
    c.append(_openai("Please write this: " + EVAL_PROMPT, "Once upon a time a bicycle rolled on."))
    c.append("{not json")
    for name, lines in (("a", a), ("b", b), ("c", c)):
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return {"a": len(a), "b": len(b), "c": len(c)}


def make_config(folder: Path, workers: int = 0, extra: dict | None = None, phases: list | None = None) -> Path:
    (folder / "eval_prompts.txt").write_text(EVAL_PROMPT + "\n")
    cfg = {
        "name": "t",
        "seed": 3,
        "output_dir": str(folder / "run"),
        "sources": [
            {"name": "a", "format": "openai", "path": "a.jsonl", "category": "technical", "license": "MIT"},
            {"name": "b", "format": "openai", "path": "b.jsonl", "category": "empathetic"},
            {"name": "c", "format": "openai", "path": "c.jsonl", "category": "creative"},
        ],
        "curate": {
            "workers": workers,
            "chunk_size": 64,
            "decontaminate": {"files": ["eval_prompts.txt"], "eval_suites": False},
            # Three buckets only: no bucket ceiling here, it has its own test.
            "max_bucket_share": 1.0,
            **(extra or {}),
        },
    }
    if phases is not None:
        cfg["curriculum"] = {"phases": phases}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("build")
    sizes = make_corpora(folder)
    cfg = load_config(make_config(folder))
    out = folder / "out"
    manifest = build(cfg, out, show_progress=False)
    return folder, out, manifest, sizes


def test_manifest_adds_up_and_counts_each_kind(built):
    folder, out, m, sizes = built
    c = m["counts"]
    assert c["input"] == sum(sizes.values())
    parts = ACCOUNTED_PARTS
    assert c["input"] == sum(c[k] for k in parts)
    assert c["exact_duplicates"] == 5 and c["near_duplicates"] == 5 and c["contaminated"] == 1
    assert c["quarantined"] == 1
    assert m["reasons"]["too_short"] == 1 and m["reasons"]["repeated_ngrams"] == 1 and m["reasons"]["eval_overlap"] == 1
    for name, s in m["sources"].items():
        assert s["input"] == sum(s[k] for k in parts), name
    assert c["output"] == sum(1 for _ in read_conversations(out))
    assert json.loads((out / "manifest.json").read_text()) == m


def test_duplicates_point_at_the_record_kept(built):
    _, out, _, _ = built
    kept = {c["_id"]: c for c in read_conversations(out)}
    exact = [json.loads(line) for line in (out / "dropped" / "exact_dedup.jsonl").read_text().splitlines()]
    near = [json.loads(line) for line in (out / "dropped" / "near_dedup.jsonl").read_text().splitlines()]
    assert len(exact) == 5 and len(near) == 5
    for entry in exact + near:
        assert entry["duplicate_of"] in kept
        # Source order decides: the copy in source "a" (listed first) survives.
        assert kept[entry["duplicate_of"]]["_source"] == "a" and entry["_source"] != "a"
    assert {e["reason"] for e in exact} == {"exact_duplicate"} and {e["reason"] for e in near} == {"near_duplicate"}
    decon = json.loads((out / "dropped" / "decontaminate.jsonl").read_text())
    assert decon["reason"] == "eval_overlap" and decon["_source"] == "c"


def test_composition_phases_and_warnings(built):
    _, out, m, _ = built
    assert m["composition"]["technical"]["count"] == m["sources"]["a"]["output"]
    assert m["composition"]["technical"]["status"] == "above"
    assert any("infeasible targets" in w for w in m["warnings"])
    assert m["composition_before_dedup"]["empathetic"]["count"] == m["sources"]["b"]["output"] + 5
    p1, held = m["phases"]["phase1_foundation"], m["validation"]["categories"]
    assert p1["examples"] == m["composition"]["technical"]["count"] - held["technical"]
    assert p1["categories"] == {"technical": p1["examples"]}
    assert m["phases"]["phase4_mixed"]["examples"] == m["counts"]["output"] - m["validation"]["examples"]
    assert p1["tokens"] > 0
    ids4 = pq.read_table(out / "phases" / "phase4_mixed.parquet").column("_id").to_pylist()
    ids5 = pq.read_table(out / "phases" / "phase5_fine_tuning.parquet").column("_id").to_pylist()
    validation = pq.read_table(out / "validation.parquet").column("_id").to_pylist()
    mixture = [c["_id"] for c in read_conversations(out / "conversations")]
    assert sorted(ids4 + validation) == sorted(mixture) and sorted(ids4) == sorted(ids5)
    assert ids4 != ids5  # shuffled, with a different seed per phase
    assert all(c["_category"] for c in read_conversations(out))


def test_validation_set_is_held_out_of_every_phase_per_bucket(built, tmp_path):
    folder, out, m, _ = built
    v = m["validation"]
    held = list(read_conversations(out / "validation.parquet"))
    assert v["examples"] == len(held) > 0 and v["file"] == "validation.parquet"
    # Per bucket: min(examples_per_category, floor(max_fraction x bucket)), the defaults 200 and 5 %.
    for cat, comp in m["composition"].items():
        assert v["categories"].get(cat, 0) == min(200, int(comp["count"] * 0.05)), cat
    held_ids = {c["_id"] for c in held}
    for name in m["phases"]:
        assert not held_ids & set(pq.read_table(out / "phases" / f"{name}.parquet").column("_id").to_pylist())
    assert v["tokens"] > 0 and all(c["_category"] for c in held)
    # Its own seed stream: other phases, the same validation set; a fixed count per bucket on request.
    cfg = load_config(make_config(folder, phases=[{"name": "only", "categories": "all", "learning_rate": 1e-5}]))
    other = build(cfg, tmp_path / "other", show_progress=False)
    assert {c["_id"] for c in read_conversations(tmp_path / "other" / "validation.parquet")} == held_ids
    assert other["phases"]["only"]["examples"] == m["counts"]["output"] - len(held)
    cfg = load_config(make_config(folder, extra={"validation": {"examples_per_category": 2, "max_fraction": 0.5}}))
    two = build(cfg, tmp_path / "two", show_progress=False)
    assert two["validation"]["categories"] == {"technical": 2, "empathetic": 2, "creative": 2}
    cfg = load_config(make_config(folder, extra={"validation": {"examples_per_category": 0}}))
    none = build(cfg, tmp_path / "none", show_progress=False)
    assert (
        none["validation"]["examples"] == 0 and pq.read_metadata(tmp_path / "none" / "validation.parquet").num_rows == 0
    )
    assert none["phases"]["phase4_mixed"]["examples"] == none["counts"]["output"]


def test_a_held_out_prompt_has_no_other_answer_in_training(tmp_path):
    """Corpora such as counsel-chat answer one question several times: all answers go to validation."""
    rng = random.Random(5)
    lines = []
    for _ in range(30):
        question = _sentence(rng, 12)
        lines += [_openai(question, _sentence(rng, 40)), _openai(question, _sentence(rng, 40))]
    (tmp_path / "q.jsonl").write_text("\n".join(lines) + "\n")
    cfg = {
        "name": "q",
        "seed": 0,
        "output_dir": str(tmp_path / "run"),
        "sources": [{"name": "q", "format": "openai", "path": "q.jsonl", "category": "empathetic"}],
        "curate": {"workers": 0, "decontaminate": {"enabled": False}, "validation": {"examples_per_category": 5}},
    }
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(cfg))
    m = build(load_config(tmp_path / "q.yaml"), tmp_path / "out", show_progress=False)
    assert m["counts"]["output"] == 60

    def prompt(c: dict) -> str:
        return c["messages"][0]["content"]

    held = [prompt(c) for c in read_conversations(tmp_path / "out" / "validation.parquet")]
    trained = {prompt(c) for c in read_conversations(tmp_path / "out" / "phases" / "phase4_mixed.parquet")}
    # 3 drawn (5 % of 60), then the other answer of each: 2 or 3 prompts, each with both its answers.
    assert 2 <= len(set(held)) <= 3 and set(Counter(held).values()) == {2}
    assert not set(held) & trained and len(trained) + len(set(held)) == 30
    assert m["validation"]["examples"] == len(held)
    # One prompt answered by most of the corpus never pulls its whole group into validation.
    poem = [_openai("Write a poem.", _sentence(rng, 40)) for _ in range(40)]
    (tmp_path / "q.jsonl").write_text("\n".join(lines + poem) + "\n")
    m = build(load_config(tmp_path / "q.yaml"), tmp_path / "out2", show_progress=False)
    held = [prompt(c) for c in read_conversations(tmp_path / "out2" / "validation.parquet")]
    assert "Write a poem." not in held and 0 < len(held) <= 10


def test_rerun_is_byte_identical_and_independent_of_workers(built, tmp_path):
    folder, out, _, _ = built
    again = tmp_path / "again"
    build(load_config(make_config(folder, workers=2)), again, show_progress=False)
    assert tree_bytes(again) == tree_bytes(out)


def test_caps_downsample_and_enter_the_identity(built, tmp_path):
    folder, _, _, _ = built
    cfg = load_config(make_config(folder, extra={"caps": {"sources": {"a": 0.4}}}))
    m = build(cfg, tmp_path / "capped", show_progress=False)
    assert m["counts"]["capped"] > 0 and m["sources"]["a"]["share"] <= 0.4
    assert m["reasons"]["capped_source"] == m["counts"]["capped"]
    capped = (tmp_path / "capped" / "dropped" / "caps.jsonl").read_text().splitlines()
    assert len(capped) == m["counts"]["capped"]


def test_max_bucket_share_downsamples_every_bucket_above_it(built, tmp_path):
    folder, _, plain, _ = built
    assert plain["composition"]["technical"]["share"] > 0.45
    m = build(load_config(make_config(folder, extra={"max_bucket_share": 0.45})), tmp_path / "m", show_progress=False)
    assert m["composition"]["technical"]["share"] <= 0.45 + 1 / m["counts"]["output"]
    assert m["composition"]["technical"]["status"] != "above_max"
    assert m["reasons"]["capped_max_bucket_share"] == m["counts"]["capped"] > 0
    assert m["sources"]["a"]["capped"] == m["counts"]["capped"]  # source a is the technical bucket
    entries = [json.loads(line) for line in (tmp_path / "m" / "dropped" / "caps.jsonl").read_text().splitlines()]
    assert len(entries) == m["counts"]["capped"] and {e["reason"] for e in entries} == {"capped_max_bucket_share"}
    assert not any("above the 45%" in w for w in m["warnings"])
    # Deterministic: the same rows go.
    again = build(
        load_config(make_config(folder, extra={"max_bucket_share": 0.45})), tmp_path / "m2", show_progress=False
    )
    assert (tmp_path / "m2" / "dropped" / "caps.jsonl").read_text() == (
        tmp_path / "m" / "dropped" / "caps.jsonl"
    ).read_text()
    assert again["counts"] == m["counts"]
    # A tighter cap of the bucket's own wins, and names its own reason.
    tight = {"max_bucket_share": 0.45, "caps": {"categories": {"technical": 0.4}}}
    m = build(load_config(make_config(folder, extra=tight)), tmp_path / "c", show_progress=False)
    assert m["reasons"]["capped_category"] == m["counts"]["capped"] and "capped_max_bucket_share" not in m["reasons"]


def test_caps_from_targets_bring_buckets_down_to_their_upper_bounds(built, tmp_path):
    folder, _, plain, _ = built
    targets = {"technical": [0.0, 0.5], "empathetic": [0.0, 0.2], "creative": [0.0, 0.3]}
    extra = {"targets": targets, "caps": {"categories_from_targets": True}}
    m = build(load_config(make_config(folder, extra=extra)), tmp_path / "t", show_progress=False)
    assert m["reasons"]["capped_category"] == m["counts"]["capped"] > 0
    assert all(m["composition"][b]["share"] <= targets[b][1] + 1 / m["counts"]["output"] for b in targets)
    assert m["composition"]["technical"]["share"] == pytest.approx(0.5, abs=0.02)  # the largest it could keep
    # An explicit cap overrides the target's bound for its bucket.
    extra["caps"]["categories"] = {"technical": 0.55}
    m = build(load_config(make_config(folder, extra=extra)), tmp_path / "o", show_progress=False)
    assert m["composition"]["technical"]["share"] == pytest.approx(0.55, abs=0.02)
    # The seed's bounds for these three buckets sum to 52 %: capping them all would empty the mixture,
    # so they are scaled up alike (30 : 12 : 10), with a warning.
    extra = {"caps": {"categories_from_targets": True}}
    m = build(load_config(make_config(folder, extra=extra)), tmp_path / "s", show_progress=False)
    assert any("scaled up alike" in w for w in m["warnings"])
    shares = {b: m["composition"][b]["share"] for b in ("technical", "empathetic", "creative")}
    assert shares["technical"] == pytest.approx(0.30 / 0.52, abs=0.02)
    assert shares["empathetic"] == pytest.approx(0.12 / 0.52, abs=0.02)
    assert shares["creative"] == pytest.approx(0.10 / 0.52, abs=0.02)
    assert m["counts"]["output"] > plain["counts"]["output"] / 2
    # Hand-written caps that leave no room are scaled the same way instead of emptying the mixture.
    extra = {"caps": {"sources": {"a": 0.3, "b": 0.2, "c": 0.2}}}
    m = build(load_config(make_config(folder, extra=extra)), tmp_path / "h", show_progress=False)
    assert any("caps (sources)" in w and "scaled up alike" in w for w in m["warnings"])
    assert m["sources"]["a"]["share"] == pytest.approx(0.3 / 0.7, abs=0.02)


def _run_build(config: Path, out: Path) -> subprocess.Popen:
    code = "import sys; from emergent.cli import main; sys.argv = ['emergent', 'data', 'build', sys.argv[1], '-o', sys.argv[2], '--quiet']; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, str(config), str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


@pytest.mark.slow
def test_kill_mid_build_then_rerun_gives_identical_output(tmp_path):
    make_corpora(tmp_path, n=3000, seed=1)
    config = make_config(tmp_path)
    clean = tmp_path / "clean"
    build(load_config(config), clean, show_progress=False)
    out = tmp_path / "out"
    build(load_config(config), out, show_progress=False)
    before = tree_bytes(out)
    proc = _run_build(config, out)
    staging = tmp_path / ".out.partial" / "_work" / "staging.arrow"
    deadline = time.time() + 120
    while not staging.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the build finished before it could be killed; make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tree_bytes(out) == before  # the complete earlier output is untouched
    assert (tmp_path / ".out.partial").exists()
    proc = _run_build(config, out)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    assert not (tmp_path / ".out.partial").exists()
    assert tree_bytes(out) == tree_bytes(clean)


def test_cli_build_and_report(built, tmp_path):
    from typer.testing import CliRunner

    from emergent.cli import app

    folder, _, _, _ = built
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["data", "build", str(make_config(folder)), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").is_file() and (out / "phases" / "phase1_foundation.parquet").is_file()
    report = CliRunner().invoke(app, ["data", "report", str(out)])
    assert report.exit_code == 0, report.output
    for word in ("composition", "curriculum phases", "eval_overlap", "infeasible targets"):
        assert word in report.output
    missing = CliRunner().invoke(app, ["data", "report", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "data build" in missing.output
