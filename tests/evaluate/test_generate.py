from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
from mock_openai import mock_server

from emergent.evaluate.config import DecodingConfig, EndpointConfig
from emergent.evaluate.generate import EndpointGenerator, run_items
from emergent.evaluate.suite import Item
from emergent.lm.generation import LocalGenerator

PROMPTS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Write a long and detailed poem about the sea and the wind, please."}],
    [{"role": "user", "content": "What is 2 + 2?"}],
]


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, make_tiny_adapter) -> Path:
    """A LoRA adapter with random (non-zero) B so it changes the outputs, saved like `emergent train` does."""
    return make_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter"), ["q_proj", "v_proj", "o_proj"], seed=1)


def _gen(model_dir: Path, adapter: Path | None, batch: int) -> LocalGenerator:
    # fp32: greedy texts compared across batch shapes must not hinge on bf16 rounding.
    return LocalGenerator(str(model_dir), adapter, DecodingConfig(max_new_tokens=8), batch, "cpu", precision="fp32")


def test_batched_left_padded_greedy_equals_one_at_a_time(tiny_model_dir: Path):
    one = _gen(tiny_model_dir, None, 1).generate(PROMPTS, [None] * 3, use_adapter=False)
    batched = _gen(tiny_model_dir, None, 3).generate(PROMPTS, [None] * 3, use_adapter=False)
    assert batched == one and all(isinstance(t, str) for t in one)


def test_base_pass_with_adapter_loaded_equals_the_plain_base_model(tiny_model_dir: Path, tiny_adapter: Path):
    plain = _gen(tiny_model_dir, None, 3).generate(PROMPTS, [None] * 3, use_adapter=False)
    both = _gen(tiny_model_dir, tiny_adapter, 3)
    assert both.generate(PROMPTS, [None] * 3, use_adapter=False) == plain
    assert both.generate(PROMPTS, [None] * 3, use_adapter=True) != plain
    with pytest.raises(ValueError, match="no adapter was loaded"):
        _gen(tiny_model_dir, None, 1).generate(PROMPTS[:1], [None], use_adapter=True)
    # The adapter generates on merged weights; afterwards the base weights are back bit for bit.
    before = {k: v.clone() for k, v in both.model.state_dict().items()}
    both.generate(PROMPTS, [None] * 3, use_adapter=True)
    after = both.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert both.generate(PROMPTS, [None] * 3, use_adapter=False) == plain


def test_merged_adapter_generates_what_the_unmerged_adapter_generates(tiny_model_dir: Path, tiny_adapter: Path):
    gen = _gen(tiny_model_dir, tiny_adapter, 3)
    merged = gen.generate(PROMPTS, [None] * 3, use_adapter=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(gen), "_merged", lambda self, use_adapter: contextlib.nullcontext())
        unmerged = gen.generate(PROMPTS, [None] * 3, use_adapter=True)
    assert merged == unmerged


def test_tools_are_rendered_like_training_renders_them(tiny_model_dir: Path):
    gen = _gen(tiny_model_dir, None, 1)
    tool = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    text = gen.render([{"role": "user", "content": "Weather in Rome?"}], [tool])
    assert '"name": "get_weather"' in text and text.endswith("<|im_start|>assistant\n")


def test_a_missing_adapter_folder_is_named(tiny_model_dir: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        _gen(tiny_model_dir, tmp_path, 1)


def test_dialogues_see_their_own_earlier_replies():
    seen: list[list[list[dict]]] = []

    class Echo:
        has_adapter = False

        def generate(self, convs, tools, use_adapter):
            seen.append([list(c) for c in convs])
            return [f"reply{len(c)}" for c in convs]

    items = [Item("a", "consistency", ["u1", "u2", "u3"], ["x"] * 3), Item("b", "prompt", ["only"], ["y"])]
    replies = run_items(Echo(), items, use_adapter=False)
    assert replies == {"a": ["reply1", "reply3", "reply5"], "b": ["reply1"]}
    assert len(seen) == 3 and len(seen[0]) == 2 and len(seen[1]) == 1  # turn 1 batches only dialogue a
    assert seen[2][0][-2] == {"role": "assistant", "content": "reply3"}


@pytest.mark.parametrize("do_sample", [False, True])
def test_a_repeated_conversation_is_generated_once_when_greedy(do_sample: bool):
    seen: list[list[list[dict]]] = []

    class Counter:
        decoding = DecodingConfig(do_sample=do_sample)

        def generate(self, convs, tools, use_adapter):
            seen.append([list(c) for c in convs])
            return [f"reply{len(seen)}.{i}" for i in range(len(convs))]

    tool = [{"name": "f", "parameters": {"type": "object", "properties": {}}}]
    items = [
        Item("a", "prompt", ["hi"], ["x"]),
        Item("b", "consistency", ["hi", "and?"], ["x"] * 2),
        Item("c", "prompt", ["hi"], ["x"], tools=tool),  # the same words with tools: another conversation
        Item("d", "consistency", ["hi", "and?"], ["x"] * 2),
    ]
    turns: list[int] = []
    replies = run_items(Counter(), items, use_adapter=False, on_turns=turns.append)
    assert turns == [4, 2]  # progress counts every item's turn either way
    if do_sample:
        assert [len(batch) for batch in seen] == [4, 2]
        assert len({r[0] for r in replies.values()}) == 4
    else:
        assert [len(batch) for batch in seen] == [2, 1]
        assert replies == {
            "a": ["reply1.0"], "b": ["reply1.0", "reply2.0"], "c": ["reply1.1"], "d": ["reply1.0", "reply2.0"]
        }  # fmt: skip


def test_endpoint_generation_sends_identical_decoding_and_reads_tool_calls(monkeypatch):
    monkeypatch.setenv("EMERGENT_TEST_ENDPOINT_KEY", "k")

    def reply(payload):
        if payload.get("tools"):
            return {
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
            }
        return {"content": f"hello from {payload['model']}"}

    with mock_server(reply) as (url, seen):
        cfg = EndpointConfig(
            base_url=url, model="base-m", adapter_model="lora-m", api_key_env="EMERGENT_TEST_ENDPOINT_KEY"
        )
        gen = EndpointGenerator(cfg, DecodingConfig(max_new_tokens=5))
        tool = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
        out = gen.generate(PROMPTS[:1] * 2, [None, [tool]], use_adapter=True)
        base = gen.generate(PROMPTS[:1], [None], use_adapter=False)
    assert out[0] == "hello from lora-m" and base == ["hello from base-m"]
    assert json.loads(out[1]) == {"name": "get_weather", "arguments": {"city": "Rome"}}
    payloads = [s["payload"] for s in seen]
    assert all(p["temperature"] == 0.0 and p["max_tokens"] == 5 for p in payloads)
    assert any(p.get("tools") == [{"type": "function", "function": tool}] for p in payloads)


def test_precision_follows_the_cpu_bf16_units(tiny_model_dir: Path, monkeypatch):
    import torch

    from emergent.lm import loading

    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: True)
    gen = LocalGenerator(str(tiny_model_dir), None, DecodingConfig(max_new_tokens=4), 2, "cpu")
    assert gen.precision == "bfloat16" and next(gen.model.parameters()).dtype == torch.bfloat16
    assert all(isinstance(t, str) for t in gen.generate(PROMPTS[:2], [None, None], use_adapter=False))
    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: False)
    assert LocalGenerator(str(tiny_model_dir), None, DecodingConfig(), 2, "cpu").precision == "float32"
    with pytest.warns(RuntimeWarning, match="eval.precision bf16 is not supported on this CPU"):
        gen = LocalGenerator(str(tiny_model_dir), None, DecodingConfig(), 2, "cpu", precision="bf16")
    assert gen.precision == "float32"
