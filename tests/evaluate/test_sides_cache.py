"""The `prompted` side, the no-history generation mode and the generation cache, on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from emergent.config import load_config
from emergent.evaluate.generate import run_items
from emergent.evaluate.run import evaluate
from emergent.evaluate.suite import Item


class Recorder:
    """A generator that records the conversations it is asked to continue and answers with their length."""

    def __init__(self) -> None:
        self.seen: list[list[dict]] = []

    def generate(self, conversations, tools, use_adapter):
        self.seen += conversations
        return [f"reply to {len(c)} messages" for c in conversations]


def test_system_prompt_opens_every_conversation_and_history_can_be_dropped():
    items = [Item("d", "memory", ["My name is Ana.", "What is my name?"], ["conversational"] * 2, None)]
    rec = Recorder()
    run_items(rec, items, False, system_prompt="Adapt your tone.")
    assert [m["role"] for m in rec.seen[1]] == ["system", "user", "assistant", "user"]
    assert rec.seen[1][0]["content"] == "Adapt your tone." and rec.seen[1][2]["content"] == "reply to 2 messages"
    rec = Recorder()
    replies = run_items(rec, items, False, history=False)
    assert [[m["content"] for m in c] for c in rec.seen] == [["My name is Ana."], ["What is my name?"]]
    assert replies["d"] == ["reply to 1 messages", "reply to 1 messages"]


def test_sides_must_be_unique_and_base_comes_first(tmp_path: Path):
    from emergent.evaluate.config import EvalConfig

    assert EvalConfig(sides=["adapter", "prompted"]).sides == ["base", "adapter", "prompted"]
    with pytest.raises(ValueError, match="twice"):
        EvalConfig(sides=["base", "adapter", "adapter"])
    with pytest.raises(ValueError):
        EvalConfig(sides=["base", "judge"])


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, make_tiny_adapter) -> Path:
    return make_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter"), ["q_proj", "v_proj"], seed=3)


def _cfg(tmp_path: Path, model_dir: Path, **eval_overrides):
    ev = {
        "prompts_per_context": 1,
        "consistency_dialogues": 1,
        "transition_dialogues": 0,
        "dialogues_per_kind": 1,
        "sides": ["base", "prompted", "adapter"],
        "prompted": {"system_prompt": "You are terse. Answer in one word."},
        "decoding": {"max_new_tokens": 4},
        "bootstrap_samples": 100,
        "heldout": {"enabled": False},
        "generation_cache": str(tmp_path / "cache"),
        **eval_overrides,
    }
    path = tmp_path / "eval.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "t", "output_dir": str(tmp_path / "run"), "model": {"name": str(model_dir)}, "eval": ev}
        )
    )
    return load_config(path)


def _replies(out: Path) -> dict[tuple[str, str, int], str]:
    rows = [json.loads(x) for x in (out / "generations.jsonl").read_text().splitlines()]
    return {(r["side"], r["id"], r["turn"]): r["response"] for r in rows}


def test_prompted_side_and_cache_reuse_exactly_what_was_generated(tmp_path, tiny_model_dir, tiny_adapter):
    cfg = _cfg(tmp_path, tiny_model_dir)
    first = evaluate(cfg, tmp_path / "e1", tiny_adapter, show_progress=False)
    assert first["sides"] == ["base", "prompted", "adapter"] and first["generations_reused"] == []
    assert first["prompted_system_prompt"] == "You are terse. Answer in one word."
    assert first["primary"]["prompted"]["n"] == first["primary"]["base"]["n"] > 0
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3

    again = evaluate(cfg, tmp_path / "e2", tiny_adapter, show_progress=False)
    assert again["generations_reused"] == ["base", "prompted", "adapter"]
    assert _replies(tmp_path / "e1") == _replies(tmp_path / "e2")
    assert again["primary"] == first["primary"]

    # Anything that decides the replies makes a new key: another decoding regenerates every side.
    longer = evaluate(
        _cfg(tmp_path, tiny_model_dir, decoding={"max_new_tokens": 5}),
        tmp_path / "e3",
        tiny_adapter,
        show_progress=False,
    )
    assert longer["generations_reused"] == []
    # Another adapter reuses base and prompted only.
    other = tmp_path / "adapter2"
    import shutil

    shutil.copytree(tiny_adapter, other)
    weights = other / "adapter_model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 1  # one bit of the last tensor
    weights.write_bytes(bytes(blob))
    third = evaluate(cfg, tmp_path / "e4", other, show_progress=False)
    assert third["generations_reused"] == ["base", "prompted"]


def test_a_cache_file_for_other_items_is_not_used(tmp_path: Path):
    from emergent.evaluate.cache import GenerationCache, SideSpec

    spec = SideSpec("base", "m", None, None, True, {"max_new_tokens": 4}, "float32", "cpu", 8)
    items = [Item("a", "prompt", ["hi"], ["conversational"], None)]
    cache = GenerationCache(tmp_path)
    path = cache.put(spec, items, {"a": ["hello"]})
    assert cache.get(spec, items) == {"a": ["hello"]}
    path.write_text(json.dumps({"replies": {"b": ["x"]}}))  # hand-edited: ids no longer match the items
    assert cache.get(spec, items) is None
    assert cache.get(spec, [Item("a", "prompt", ["hi!"], ["conversational"], None)]) is None


def test_no_history_sides_answer_the_checked_dialogues_alone(tmp_path, tiny_model_dir, tiny_adapter):
    cfg = _cfg(tmp_path, tiny_model_dir, sides=["base", "adapter", "no_history"], prompts_per_context=1)
    result = evaluate(cfg, tmp_path / "run" / "eval", tiny_adapter, show_progress=False)
    assert result["sides"] == ["base", "adapter", "no_history", "adapter_no_history"]
    rows = [json.loads(x) for x in (tmp_path / "run" / "eval" / "generations.jsonl").read_text().splitlines()]
    alone = {r["id"] for r in rows if r["side"] == "no_history"}
    dialogues = {k for k, v in result["suite"]["checked_dialogues"].items() if v}
    assert alone and {i.split("/")[0] for i in alone} == dialogues  # the checked dialogues only
    # Kept out of the primary metric and the register metrics; paired with their model in `dialogues`.
    assert "no_history" not in result["primary"] and "no_history" not in result["range"]
    effect = result["dialogues"]["history_effect"]
    assert set(effect) == {"base", "adapter"} and effect["base"]["memory"]["n"] == 1
    # The report shows them: a row per kind, a column per side and what history changes.
    from emergent.report.html import write_report

    page = write_report(tmp_path / "run").read_text()
    card = page[page.index("Multi-turn checks") :]
    assert "adapter: with − without history" in card and "self correction" in card and "n=1" in card
