"""`emergent eval CONFIG` (and `eval suite CONFIG`), `eval style FILE`, `eval prototypes` on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from eval_helpers import STYLED
from typer.testing import CliRunner

from emergent.cli import app
from emergent.config import load_config

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, make_tiny_adapter) -> Path:
    return make_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter"), ["q_proj", "v_proj"], seed=2)


def _config(tmp_path: Path, model_dir: Path) -> Path:
    cfg = {
        "name": "t",
        "output_dir": str(tmp_path / "run"),
        "model": {"name": str(model_dir)},
        "eval": {
            "prompts_per_context": 2,
            "consistency_dialogues": 1,
            "transition_dialogues": 1,
            "batch_size": 8,
            "decoding": {"max_new_tokens": 6},
            "bootstrap_samples": 200,
        },
    }
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_eval_config_with_adapter_writes_every_metric_with_ci(tmp_path: Path, tiny_model_dir: Path, tiny_adapter: Path):
    # A tiny training mixture holding one suite prompt verbatim: the contamination check must flag it.
    from emergent.data.store import write_conversations
    from emergent.schema import make_conversation

    leak = "How do I optimise this database query? SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE country = 'DE') ORDER BY created_at DESC;"
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
    assert set(result["range"]["base"]["per_context"]) == set(load_config(config).eval.contexts)
    assert "ci95" in result["collapse"]["adapter"]["context_predictability"]
    assert result["sides"] == ["base", "adapter"] and result["decoding"]["do_sample"] is False
    assert result["contamination"]["contaminated"] == ["default/technical/0"]
    lines = [json.loads(x) for x in (tmp_path / "out" / "generations.jsonl").read_text().splitlines()]
    # 16 prompts + a 3-turn consistency dialogue + a 3-turn transition dialogue, for both sides.
    assert len(lines) == 2 * (16 + 3 + 3)
    assert {"prompt", "response", "predicted", "probs", "profile", "context"} <= set(lines[0])
    assert "evaluation" in res.output
    h = result["heldout"]  # the build's held-out set, scored by both sides
    assert h["examples"] == 1 and set(h["by_category"]) == {"conversational"} and h["adapter"]["loss"] > 0
    assert len(h["difference"]["ci95"]) == 2 and "held-out loss" in res.output


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
