"""Conversation -> training text through the tokenizer's chat template, with the loss-bearing spans.

Only the messages and tools are rendered; metadata keys (`_id`, `_source`, ...) never reach the text.
Every assistant turn carries loss: its content and the template's end-of-turn marker (so the model
learns to stop); system, user and tool turns and the template's role headers carry none. With
`last_turn_only` (`training.mask_history`) only the last assistant turn does.

Tools. Records store `tools` in the OpenAI shape (`{"type": "function", "function": {...}}`; bare
function schemas are wrapped on the way in). When the chat template has tool support (it mentions
`tools` or `tool_calls`), the messages and tools go through it unchanged. Otherwise (SmolLM2's
template has none) they are written as text in the Hermes layout that Qwen2.5 and Hermes models use,
so a model trained here reads and writes what tool-calling runtimes parse:
  * the tool schemas go into the system message (one is created when absent) between `<tools>` and
    `</tools>`, one JSON object per line, after a short instruction;
  * each assistant tool call becomes `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`
    after the assistant's text: the name comes first, so the arguments are generated knowing the function;
  * each tool result becomes `<tool_response>\n...\n</tool_response>` in a message with role "tool".
JSON keeps the record's key order (the same record always renders the same text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from emergent.schema import Conversation, openai_tools

TOOLS_HEADER = (
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:"
)
TOOLS_FOOTER = (
    "For each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


@dataclass
class Rendered:
    """One conversation as training text: `spans` are [start, end) character ranges that carry loss."""

    text: str
    spans: list[tuple[int, int]]


@dataclass
class Example:
    """One tokenised conversation: `labels[i]` is True where token i is a loss-bearing token."""

    input_ids: list[int]
    labels: list[bool]
    truncated: bool = False

    @property
    def loss_tokens(self) -> int:
        # Token 0 is never predicted (nothing precedes it).
        return sum(self.labels[1:])


def has_tool_support(tokenizer: Any) -> bool:
    template = tokenizer.chat_template or ""
    if isinstance(template, dict):
        template = " ".join(template.values())
    return "tool_calls" in template or "tools" in template


def _call_text(call: dict) -> str:
    fn = call["function"]
    try:
        args: Any = json.loads(fn["arguments"])
    except (TypeError, ValueError):
        args = fn["arguments"]
    body = json.dumps({"name": fn["name"], "arguments": args}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def tools_block(tools: list[dict]) -> str:
    """The system-message text that lists the tools (Hermes layout)."""
    schemas = "\n".join(json.dumps(t, ensure_ascii=False) for t in openai_tools(tools) or [])
    return f"{TOOLS_HEADER}\n<tools>\n{schemas}\n</tools>\n\n{TOOLS_FOOTER}"


def tools_as_text(messages: list[dict], tools: list[dict] | None) -> list[dict]:
    """Rewrite tool schemas, calls and results as text for templates without tool support (see module doc)."""
    out: list[dict] = []
    for m in messages:
        content = m.get("content") or ""
        calls = m.get("tool_calls") or []
        if calls:
            content = "\n".join([content] * bool(content) + [_call_text(c) for c in calls])
        if m["role"] == "tool":
            content = f"<tool_response>\n{content}\n</tool_response>"
        out.append({"role": m["role"], "content": content})
    if tools:
        block = tools_block(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{block}" if out[0]["content"] else block}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def _native_message(m: dict) -> dict:
    # Templates with tool support expect call arguments as a mapping (they `tojson` it themselves).
    out = {k: v for k, v in m.items() if v is not None}
    if out.get("tool_calls"):
        out["tool_calls"] = [
            {**c, "function": {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}}
            for c in out["tool_calls"]
        ]
    return out


def _template(tokenizer: Any, messages: list[dict], tools: list[dict] | None, generation_prompt: bool) -> str:
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": generation_prompt}
    if tools:
        kwargs["tools"] = tools
    return tokenizer.apply_chat_template(messages, **kwargs)


def render(conv: Conversation, tokenizer: Any, *, last_turn_only: bool = False) -> Rendered:
    """The exact training text of `conv` and the character spans of every assistant turn (of only the
    last one with `last_turn_only`: the earlier turns are then context, as LLaMA-Factory's `mask_history`).

    Spans come from rendering growing prefixes of the conversation: an assistant turn starts where
    the prefix rendered with a generation prompt ends, and ends where the prefix including it ends.
    That needs a template whose renderings of prefixes are prefixes of the full text; one that is not
    (e.g. it rewrites earlier turns) is reported rather than trained on with misplaced labels.
    """
    native = has_tool_support(tokenizer)
    tools = openai_tools(conv.get("tools"))
    if native:
        messages = [_native_message(m) for m in conv["messages"]]
        template_tools = tools
    else:
        messages = tools_as_text(conv["messages"], tools)
        template_tools = None
    text = _template(tokenizer, messages, template_tools, False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _template(tokenizer, messages[:i], template_tools, True)
        upto = _template(tokenizer, messages[: i + 1], template_tools, False)
        if not (text.startswith(before) and text.startswith(upto) and len(upto) > len(before)):
            raise ValueError(
                f"record {conv.get('_id')}: the chat template does not render message prefixes as prefixes "
                "of the whole conversation, so assistant turns cannot be located — use a model whose chat "
                "template appends turns (ChatML, Llama-3) or report this template"
            )
        spans.append((len(before), len(upto)))
    return Rendered(text=text, spans=spans[-1:] if last_turn_only else spans)


def tokenize(rendered: Rendered, tokenizer: Any, max_len: int | None = None) -> Example:
    """Tokens of the rendered text with their loss flags (a token carries loss if it starts in a span)."""
    enc = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    labels = [False] * len(ids)
    s = 0
    for i, (start, _end) in enumerate(enc["offset_mapping"]):
        while s < len(rendered.spans) and start >= rendered.spans[s][1]:
            s += 1
        if s < len(rendered.spans) and rendered.spans[s][0] <= start:
            labels[i] = True
    truncated = max_len is not None and len(ids) > max_len
    if truncated:
        ids, labels = ids[:max_len], labels[:max_len]
    return Example(input_ids=ids, labels=labels, truncated=truncated)


def encode(conv: Conversation, tokenizer: Any, max_len: int | None = None, *, last_turn_only: bool = False) -> Example:
    """render + tokenize."""
    return tokenize(render(conv, tokenizer, last_turn_only=last_turn_only), tokenizer, max_len)
