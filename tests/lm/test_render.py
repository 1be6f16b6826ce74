"""Rendering through the chat template: loss only on assistant turns, metadata never in the text."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from emergent.lm.render import encode, render, tools_block
from emergent.schema import make_conversation, tool_call
from train.conftest import WEATHER_TOOL, conversations


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return AutoTokenizer.from_pretrained(tokenizer_dir)


def tool_conversation() -> dict:
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [tool_call("get_weather", {"city": "Paris"})]},
        {"role": "tool", "content": '{"temp_c": 21}', "tool_call_id": "call_0", "name": "get_weather"},
        {"role": "assistant", "content": "It is 21 degrees."},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "You're welcome."},
    ]
    return make_conversation(
        msgs, source="secret_source_name", origin="x.jsonl:7", category="tool_use", tools=[WEATHER_TOOL], license="MIT"
    )


def test_only_assistant_tokens_carry_loss_in_every_turn(tokenizer):
    conv = tool_conversation()
    ex = encode(conv, tokenizer)
    loss_text = tokenizer.decode([t for t, lab in zip(ex.input_ids, ex.labels, strict=False) if lab])
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert loss_text == (f"Let me check.\n{call}<|im_end|>\nIt is 21 degrees.<|im_end|>\nYou're welcome.<|im_end|>\n")
    context = tokenizer.decode([t for t, lab in zip(ex.input_ids, ex.labels, strict=False) if not lab])
    for text in ("Be brief.", "Weather in Paris?", '<tool_response>\n{"temp_c": 21}\n</tool_response>', "Thanks!"):
        assert text in context
    assert "It is 21" not in context and "welcome" not in context


def test_mask_history_trains_only_the_last_assistant_turn(tokenizer, tmp_path):
    from emergent.data.store import write_conversations
    from emergent.train.config import TrainingConfig
    from emergent.train.data import encode_phase

    conv = tool_conversation()
    every, last = encode(conv, tokenizer), encode(conv, tokenizer, last_turn_only=True)
    assert last.input_ids == every.input_ids  # the same text: earlier turns stay as context
    loss_text = tokenizer.decode([t for t, lab in zip(last.input_ids, last.labels, strict=False) if lab])
    assert loss_text == "You're welcome.<|im_end|>\n"
    # Through the training config: the same rows (so the same steps), fewer loss tokens.
    convs = [conv, *conversations(5)]
    path = tmp_path / "phase.parquet"
    write_conversations(convs, path)
    full = encode_phase(convs, TrainingConfig(max_seq_len=512), tokenizer, path)
    masked = encode_phase(convs, TrainingConfig(max_seq_len=512, mask_history=True), tokenizer, path)
    assert masked.rows == full.rows and masked.tokens == full.tokens
    assert sum(e.loss_tokens for e in masked.examples) < sum(e.loss_tokens for e in full.examples)


def test_metadata_is_never_rendered(tokenizer):
    conv = tool_conversation()
    text = render(conv, tokenizer).text
    for key in ("_id", "_source", "_category", "_license", "_origin"):
        assert str(conv[key]) not in text
    assert "secret_source_name" not in text and "x.jsonl:7" not in text


def test_tools_render_in_the_hermes_layout_without_template_support(tokenizer):
    conv = tool_conversation()
    assert conv["tools"] == [{"type": "function", "function": WEATHER_TOOL}]  # stored in the OpenAI shape
    text = render(conv, tokenizer).text
    assert text == render(json.loads(json.dumps(conv)), tokenizer).text
    schema = json.dumps({"type": "function", "function": WEATHER_TOOL})
    assert f"<|im_start|>system\nBe brief.\n\n{tools_block(conv['tools'])}<|im_end|>" in text
    assert f"<tools>\n{schema}\n</tools>" in text
    assert '<|im_start|>tool\n<tool_response>\n{"temp_c": 21}\n</tool_response><|im_end|>' in text
    # A record written before the OpenAI shape (bare schemas) renders the same.
    old = {**conv, "tools": [WEATHER_TOOL]}
    assert render(old, tokenizer).text == text


def test_smollm2_template_has_no_tool_support_so_the_text_layout_is_used(tokenizer):
    from emergent.lm.render import has_tool_support

    assert not has_tool_support(tokenizer)
    assert "tools" not in (tokenizer.chat_template or "")


def test_template_with_tool_support_gets_tools_natively(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.chat_template = (
        "{% if tools %}TOOLS:{% for t in tools %}{{ t.type }} {{ t.function.name }};{% endfor %}\n{% endif %}"
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}"
        "{% for c in m.tool_calls or [] %}CALL {{ c.function.name }} {{ c.function.arguments.city }}{% endfor %}</>\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    r = render(tool_conversation(), tok)
    assert r.text.startswith("TOOLS:function get_weather;<system>Be brief.")  # the OpenAI shape templates expect
    assert "CALL get_weather Paris" in r.text  # arguments reach the template as a mapping
    assert [r.text[a:b] for a, b in r.spans][-1] == "You're welcome.</>\n"


def test_template_that_rewrites_earlier_turns_is_refused(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.chat_template = "{{ messages | length }}{% for m in messages %}{{ m.content }}{% endfor %}"
    with pytest.raises(ValueError, match="prefixes"):
        render(conversations(1, offset=1)[0], tok)


def test_truncation_keeps_the_head_and_flags_it(tokenizer):
    conv = conversations(1, offset=3)[0]
    full = encode(conv, tokenizer)
    cut = encode(conv, tokenizer, max_len=20)
    assert cut.truncated and not full.truncated
    assert cut.input_ids == full.input_ids[:20] and cut.labels == full.labels[:20]
