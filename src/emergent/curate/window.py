"""Records fitted into the training window (`training.max_seq_len`) before they count in the mixture.

Training cuts a conversation at max_seq_len tokens and learns only from the assistant tokens inside
the cut. A record whose prefix (system message, tool schemas, every turn before the first assistant
turn) fills the window trains no token at all; counted in the composition it is a share of a bucket
that teaches nothing (92 of 520 tool_use records in the quickstart at 512 tokens). So, as records
enter curation:

1. A record with tools that does not fit whole has its schemas trimmed to what its calls need, in
   this order, stopping as soon as it fits: the functions it never calls (distractors), then the
   parameters' descriptions, then the functions' descriptions.
2. A multi-turn call-only record (several assistant turns with calls and no tool result, as in BFCL
   multi-turn) that still does not fit is left out (`multi_turn_does_not_fit`): cut, it would end in
   the middle of a call, and its later turns are the point of it.
3. A record whose prefix still fills the window is left out (`no_trained_tokens`).

Left-out records go to dropped/window.jsonl with their reason and count as filtered in the manifest,
never in the composition. Per source, the manifest's `window` section counts the tool records kept
with results (a call, its result, an answer) and call-only (a call and nothing after it), and the
records whose schemas were trimmed.

Token counts are estimates, as everywhere in curation (no tokenizer, no model download): characters
of the text the template fallback renders (lm/render.py's Hermes layout) / `curate.filters.
chars_per_token`, the tools block at a denser ratio (SCHEMA_DENSITY), plus a few tokens per message
for the role header. A few records near the edge are misjudged (measured in tests/curate/test_window.py
against SmolLM2's tokenizer); training counts exactly and drops, and counts, any record that still
trains nothing (train/data.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from emergent.curate.steps import Dropped, Step
from emergent.lm.render import tools_as_text, tools_block
from emergent.schema import Conversation, openai_tools, tool_function

# "<|im_start|>role\n" + "<|im_end|>\n" in ChatML; other templates' headers are of the same size.
HEADER_TOKENS = 5
# JSON schemas take more tokens per character than prose: with SmolLM2's tokenizer on BFCL and SGD
# (schemas whole and trimmed) the tools block runs at ~3.5 characters per token against ~4 for text.
# At 3.5 the estimate errs toward leaving a record out, and a record left out by that margin would
# have trained only the first few tokens of its answer.
SCHEMA_DENSITY = 0.875


def called_names(conv: Conversation) -> set[str]:
    return {c["function"]["name"] for m in conv["messages"] for c in m.get("tool_calls") or []}


def tool_shape(conv: Conversation) -> str | None:
    """Which tool use a record teaches: `with_results` (a call answered by a tool message), `call_only`, or None."""
    roles = [m["role"] for m in conv["messages"]]
    if not any(m.get("tool_calls") for m in conv["messages"]):
        return None
    return "with_results" if "tool" in roles else "call_only"


def _without_descriptions(schema: Any) -> Any:
    """A JSON schema minus its "description" keys; parameter *names* (keys of "properties") are kept."""
    if isinstance(schema, list):
        return [_without_descriptions(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _without_descriptions(s) for name, s in value.items()}
        else:
            out[key] = _without_descriptions(value)
    return out


def trimmed_tools(tools: list[dict], called: set[str]) -> Iterator[list[dict]]:
    """Ever smaller tool lists: the called functions only, then without parameter descriptions, then bare."""
    needed = [tool_function(t) for t in tools or [] if tool_function(t).get("name") in called]
    yield openai_tools(needed) or []
    no_params = [{**f, "parameters": _without_descriptions(f.get("parameters") or {})} for f in needed]
    yield openai_tools(no_params) or []
    yield openai_tools([{k: v for k, v in f.items() if k != "description"} for f in no_params]) or []


class TrainingWindow(Step):
    """Trims tool schemas to fit `max_seq_len`, and leaves out records that would train nothing (see module doc)."""

    name = "window"

    def __init__(self, max_seq_len: int, chars_per_token: float) -> None:
        self.max_seq_len, self.chars_per_token = max_seq_len, chars_per_token
        self.sources: dict[str, Counter] = {}

    def tokens(self, messages: list[dict], tools: list[dict] | None) -> tuple[int, int]:
        """(estimated tokens before the first assistant token, estimated tokens of the whole record)."""
        total = 0.0
        if tools:
            total += len(tools_block(tools)) / (self.chars_per_token * SCHEMA_DENSITY)
            total += HEADER_TOKENS * (not messages or messages[0]["role"] != "system")  # a system turn is added
        prefix = None
        for m in tools_as_text(messages, None):
            if m["role"] == "assistant" and prefix is None:
                prefix = total + HEADER_TOKENS  # the assistant header is in the prefix, its text is not
            total += len(m["content"]) / self.chars_per_token + HEADER_TOKENS
        return int(prefix or 0), int(total + 0.5)

    def fit(self, conv: Conversation) -> tuple[Conversation, str | None]:
        """The record as it will be kept (tools trimmed when needed), or the reason it is left out."""
        counts = self.sources.setdefault(conv["_source"], Counter())
        original = conv
        prefix, total = self.tokens(conv["messages"], conv.get("tools"))
        if total > self.max_seq_len and conv.get("tools"):
            for tools in trimmed_tools(conv["tools"], called_names(conv)):
                prefix, total = self.tokens(conv["messages"], tools)
                if total <= self.max_seq_len:
                    break
            conv = {**conv, "tools": tools or None}
        trimmed = conv is not original  # a record with no call loses every schema: all were distractors
        reason = None
        calls_turns = sum(1 for m in conv["messages"] if m.get("tool_calls"))
        if prefix >= self.max_seq_len:
            reason = "no_trained_tokens"
        elif total > self.max_seq_len and calls_turns > 1 and tool_shape(conv) == "call_only":
            reason = "multi_turn_does_not_fit"
        if reason:
            counts[reason] += 1
            return original, reason
        if trimmed:
            counts["schemas_trimmed"] += 1
        if shape := tool_shape(conv):
            counts[shape] += 1
        return conv, None

    def run(self, stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
        for conv in stream:
            kept, reason = self.fit(conv)
            if reason:
                dropped.add(self.name, kept, reason)
            else:
                yield kept

    def summary(self) -> dict[str, Any]:
        """The manifest's `window` section: the window, the estimate, and per-source counts."""
        return {
            "max_seq_len": self.max_seq_len,
            "tokens": (
                f"approximate: characters of the rendered text / {self.chars_per_token} "
                f"(tool schemas / {self.chars_per_token * SCHEMA_DENSITY}) + {HEADER_TOKENS} per message"
            ),
            "sources": {name: dict(sorted(c.items())) for name, c in sorted(self.sources.items()) if c},
        }
