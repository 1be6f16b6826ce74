"""`emergent eval CONFIG` (and `eval suite CONFIG`), `eval style FILE`, `eval prototypes` on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import STYLED, tiny_eval_config
from typer.testing import CliRunner

from emergent.cli import app
from emergent.config import load_config
from emergent.evaluate.metrics import REACHED_BY_CONTROLS

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, make_tiny_adapter) -> Path:
    return make_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter"), ["q_proj", "v_proj"], seed=2)


def _config(tmp_path: Path, model_dir: Path) -> Path:
    return tiny_eval_config(tmp_path / "eval.yaml", model_dir, tmp_path / "run")


def test_eval_config_with_adapter_writes_every_metric_with_ci(tmp_path: Path, tiny_model_dir: Path, tiny_adapter: Path):
    # A tiny training mixture holding one suite prompt verbatim: the contamination check must flag it.
    from emergent.data.store import write_conversations
    from emergent.evaluate.suite import load_suite
    from emergent.schema import make_conversation

    first_technical = next(p for p in load_suite(["default"]).prompts if p.contexts[0] == "technical")
    leak = first_technical.turns[0]
    msgs = [{"role": "user", "content": leak}, {"role": "assistant", "content": "Add an index."}]
    (tmp_path / "run" / "data" / "conversations").mkdir(parents=True)
    write_conversations(
        [make_conversation(msgs, source="x", origin="x:1")], tmp_path / "run/data/conversations/part-0.parquet"
    )
    held = [{"role": "user", "content": "Say hello to Ana."}, {"role": "assistant", "content": "Hello, Ana!"}]
    write_conversations(
        [make_conversation(held, source="x", origin="x:2", category="conversational")],
        tmp_path / "run/data/validation.parquet",
    )

    config = _config(tmp_path, tiny_model_dir)
    res = runner.invoke(
        app, ["eval", str(config), "--adapter", str(tiny_adapter), "-o", str(tmp_path / "out"), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "out" / "eval.json").read_text())
    for metric in ("range", "consistency", "transitions"):
        for side in ("base", "adapter", "difference"):
            assert len(result[metric][side]["ci95"]) == 2, (metric, side)
        assert "mean" in result[metric]["adapter"]
    # The register metrics cover every suite context: the scorer knows all nine registers.
    assert set(result["range"]["base"]["per_context"]) == set(load_config(config).eval.contexts)
    assert "ci95" in result["collapse"]["adapter"]["context_predictability"]
    assert result["sides"] == ["base", "adapter"] and result["decoding"]["do_sample"] is False
    assert result["contamination"]["contaminated"] == [first_technical.id]
    lines = [json.loads(x) for x in (tmp_path / "out" / "generations.jsonl").read_text().splitlines()]
    # 18 checked prompts (9 contexts) + a 3-turn consistency dialogue + a 3-turn transition dialogue, both sides.
    assert len(lines) == 2 * (18 + 3 + 3 + 15)  # + 5 checked dialogues (one per kind) of 3 turns
    assert {"prompt", "response", "predicted", "probs", "profile", "context", "check"} <= set(lines[0])
    # The primary metric leads eval.json and the printed summary, with n and paired, Holm-corrected tests.
    assert list(result)[0] == "primary"
    p = result["primary"]
    assert p["name"] == "appropriate_response_rate" and p["items_checked"] == 18
    for side in ("base", "adapter"):
        assert p[side]["n"] == 18 and len(p[side]["ci95"]) == 2 and set(p[side]["per_context"]) == set(p["contexts"])
    assert p["difference"]["n"] == 18
    family = result["tests"]["family"]
    assert result["tests"]["correction"] == "holm" and {t["metric"] for t in family} >= {"primary", "fit"}
    assert not {t["metric"] for t in family} & set(REACHED_BY_CONTROLS)  # figures a control reaches are not tested
    assert all(t["verdict"].startswith("no verdict (n = ") for t in family if t["n"] < 20)
    assert res.output.index("primary") < res.output.index("secondary")
    printed = res.output

    # `eval score` on the same replies, reduced to the generations schema, reproduces every figure.
    schema = ("side", "id", "kind", "turn", "context", "prompt", "response")
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps({k: r[k] for k in schema}) + "\n" for r in lines))
    res = runner.invoke(app, ["eval", "score", str(bare), "-o", str(tmp_path / "rescored"), "--config", str(config)])
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "rescored" / "eval.json").read_text())
    assert set(result) <= set(again)  # the same keys as a full evaluation
    assert list(again)[0] == "primary"
    for key in ("primary", "tests", "range", "consistency", "transitions", "collapse", "depth", "coverage"):
        assert again[key] == result[key], key
    h = result["heldout"]  # the build's held-out set, scored by both sides
    assert h["examples"] == 1 and set(h["by_category"]) == {"conversational"} and h["adapter"]["loss"] > 0
    assert len(h["difference"]["ci95"]) == 2 and "held-out loss" in printed


def test_eval_suite_base_only_and_missing_adapter_message(tmp_path: Path, tiny_model_dir: Path):
    config = _config(tmp_path, tiny_model_dir)
    res = runner.invoke(app, ["eval", "suite", str(config), "--base-only", "--quiet"])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "run" / "eval" / "eval.json").read_text())
    assert result["sides"] == ["base"] and "difference" not in result["range"]
    assert result["contamination"]["checked"] is False and result["heldout"] is None  # no data folder
    # --data points at a data folder built elsewhere: its held-out set is scored.
    from emergent.data.store import write_conversations
    from emergent.schema import make_conversation

    held = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Teal."}]
    write_conversations(
        [make_conversation(held, source="x", origin="x:3", category="factual")], tmp_path / "other/validation.parquet"
    )
    res = runner.invoke(
        app, ["eval", "suite", str(config), "--base-only", "--data", str(tmp_path / "other"), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "run" / "eval" / "eval.json").read_text())
    assert result["heldout"]["examples"] == 1 and result["heldout"]["data"] == str(
        tmp_path / "other/validation.parquet"
    )
    res = runner.invoke(app, ["eval", "suite", str(config), "--base-only", "--data", str(tmp_path / "nope"), "--quiet"])
    assert res.exit_code == 1 and "data folder not found" in res.output
    res = runner.invoke(app, ["eval", str(config), "--quiet"])
    assert res.exit_code == 1 and "no adapter found" in res.output


def test_eval_score_counts_missing_items_and_scores_one_side(tmp_path: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from controls import POSITIVE, generations

    from emergent.evaluate.suite import load_suite

    items = load_suite(["default"]).prompts
    rows = generations(items, POSITIVE["reference"], "adapter")
    dropped = {r["id"] for r in rows[:5]}
    f = tmp_path / "gen.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] not in dropped))
    res = runner.invoke(app, ["eval", "score", str(f), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "out" / "eval.json").read_text())
    p = result["primary"]
    assert result["sides"] == ["adapter"] and "base" not in p and "difference" not in p
    without_reference = sum(1 for it in items if it.checks and it.reference is None)
    assert p["adapter"]["missing"] == 5 + without_reference and p["adapter"]["mean"] == 1.0
    assert result["coverage"]["adapter"]["missing"] >= 5
    assert {"range", "consistency", "collapse", "heldout", "contamination", "judge"} <= set(result)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"response": "no side"}\n')
    res = runner.invoke(app, ["eval", "score", str(bad), "-o", str(tmp_path / "x")])
    assert res.exit_code == 1 and "bad.jsonl:1: needs side and id" in res.output


def test_eval_suite_export_writes_every_item(tmp_path: Path):
    out = tmp_path / "suite.jsonl"
    res = runner.invoke(app, ["eval", "suite", "--export", str(out)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    from emergent.evaluate.suite import load_suite

    assert [x["id"] for x in lines] == [it.id for it in load_suite(["default"]).items]
    assert {"id", "context", "kind", "messages", "checks", "reference"} <= set(lines[0])
    assert sum(1 for x in lines if x["checks"]) >= 9 * 50
    assert any(x["kind"] == "transition" and len(x["messages"]) > 1 for x in lines)
    res = runner.invoke(app, ["eval", "suite"])
    assert res.exit_code == 1 and "needs a run config" in res.output


def test_eval_style_scores_any_jsonl(tmp_path: Path):
    f = tmp_path / "replies.jsonl"
    rows = [{"response": t, "context": c} for c, ts in STYLED.items() for t in ts]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "scored.jsonl"
    res = runner.invoke(app, ["eval", "style", str(f), "-o", str(out)])
    assert res.exit_code == 0, res.output
    scored = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(scored) == len(rows) and {"context", "probs", "profile", "style_hit"} <= set(scored[0])
    assert "context accuracy" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "no response"}\n')
    res = runner.invoke(app, ["eval", "style", str(bad)])
    assert res.exit_code == 1 and "bad.jsonl:1: needs a 'response'" in res.output


def test_eval_prototypes_rebuilds_from_a_data_folder(tmp_path: Path):
    from emergent.data.store import write_conversations
    from emergent.evaluate.scorer import Prototypes, StyleScorer
    from emergent.schema import make_conversation

    convs = [
        make_conversation(
            [{"role": "user", "content": f"q{c}{i}"}, {"role": "assistant", "content": t + f" ({i})"}],
            source="s",
            origin=f"s:{c}{i}",
            category=c,
        )
        for c, ts in STYLED.items()
        for i, t in enumerate(ts * 3)
    ]
    (tmp_path / "data" / "conversations").mkdir(parents=True)
    write_conversations(convs, tmp_path / "data" / "conversations" / "part-0.parquet")
    out = tmp_path / "protos.npz"
    res = runner.invoke(app, ["eval", "prototypes", str(tmp_path / "data"), "-o", str(out), "--per-context", "50"])
    assert res.exit_code == 0, res.output
    protos = Prototypes.load(out)
    assert sorted(protos.contexts) == sorted(STYLED)
    scores = StyleScorer(protos).score([STYLED["tool_use"][0], STYLED["creative"][1]])
    assert [s["context"] for s in scores] == ["tool_use", "creative"]


def test_eval_prototypes_builds_from_the_written_set_without_data(tmp_path):
    from emergent.evaluate.scorer import Prototypes

    out = tmp_path / "written.npz"
    res = runner.invoke(app, ["eval", "prototypes", "-o", str(out)])
    assert res.exit_code == 0, res.output
    protos = Prototypes.load(out)
    assert protos.meta["built_from"] == "written" and protos.head_input == "embedding"
    assert len(protos.contexts) == 9
