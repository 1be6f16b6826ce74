"""The content guard: text a tokenizer would read as a control token, and mojibake, never reach training.

Tokenizers match their special-token strings inside ordinary text, so a literal `<|endoftext|>` in
an answer becomes the end-of-text token inside the trained span. A special-token string at either
end of a message is a leftover of how the corpus was dumped and is stripped; one inside the text
cannot be removed without changing what the text says, so the record is quarantined.
Mojibake (UTF-8 read as Latin-1/cp1252: "LÃ¼beck") is repaired with ftfy's `fix_encoding`, which
changes nothing else (quotes, HTML entities and line breaks are left as written); text that is still
garbled after the repair, or holds U+FFFD replacement characters, is quarantined.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import ftfy
from ftfy.badness import is_bad

from emergent.errors import Reject

# The special tokens of the chat and base models people fine-tune (each family's tokenizer_config).
SPECIAL_TOKENS: tuple[str, ...] = (
    # GPT-2 / GPT-NeoX / SmolLM / StarCoder / Qwen / Phi
    "<|endoftext|>",
    "<|padding|>",
    "<repo_name>",
    "<reponame>",
    "<file_sep>",
    "<filename>",
    "<gh_stars>",
    "<issue_start>",
    "<issue_comment>",
    "<issue_closed>",
    "<jupyter_start>",
    "<jupyter_text>",
    "<jupyter_code>",
    "<jupyter_output>",
    "<jupyter_script>",
    "<empty_output>",
    "<fim_prefix>",
    "<fim_middle>",
    "<fim_suffix>",
    "<fim_pad>",
    # ChatML (SmolLM2, Qwen, Hermes, phi-4)
    "<|im_start|>",
    "<|im_end|>",
    "<|im_sep|>",
    # Llama 1/2, Mistral, T5
    "<s>",
    "</s>",
    "<unk>",
    "[INST]",
    "[/INST]",
    "<<SYS>>",
    "<</SYS>>",
    # Mistral v3+ control tokens
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_CALLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    # Llama 3
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    # Gemma
    "<bos>",
    "<eos>",
    "<pad>",
    "<start_of_turn>",
    "<end_of_turn>",
    # Phi-3, Zephyr, ChatGLM
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
    # gpt-oss (harmony)
    "<|start|>",
    "<|message|>",
    "<|channel|>",
    "<|return|>",
    "<|call|>",
    "<|constrain|>",
    # Command R
    "<BOS_TOKEN>",
    "<|START_OF_TURN_TOKEN|>",
    "<|END_OF_TURN_TOKEN|>",
    "<|USER_TOKEN|>",
    "<|CHATBOT_TOKEN|>",
    "<|SYSTEM_TOKEN|>",
    # DeepSeek (full-width bars and U+2581 in the names)
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
)

# Any `<|word|>` is some model's control token (Llama 3's `<|reserved_special_token_7|>`, Qwen's
# `<|fim_prefix|>`, ...), so the shape is matched as well as the list.
SPECIAL_TOKEN = re.compile(
    "|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS, key=len, reverse=True)) + r"|<\|[A-Za-z0-9_.\-]+\|>"
)
_AT_EDGES = re.compile(rf"^(?:\s*(?:{SPECIAL_TOKEN.pattern}))+\s*|\s*(?:(?:{SPECIAL_TOKEN.pattern})\s*)+$")


def guard_text(text: str, where: str) -> tuple[str, Counter]:
    """Repaired `text` and what was repaired; Reject("special_token" | "mojibake") when it cannot be repaired."""
    repairs: Counter = Counter()
    if SPECIAL_TOKEN.search(text):
        text, n = _AT_EDGES.subn("", text)
        repairs["special_token_stripped"] += n
        inside = SPECIAL_TOKEN.search(text)
        if inside:
            start = max(inside.start() - 40, 0)
            raise Reject(
                "special_token",
                f"{where} holds {inside.group(0)!r} inside its text: …{text[start : inside.end() + 40]}…",
            )
    if not text.isascii():
        fixed = ftfy.fix_encoding(text)
        if fixed != text:
            repairs["mojibake_fixed"] += 1
            text = fixed
        if "\ufffd" in text or is_bad(text):
            bad = text.find("\ufffd")
            raise Reject("mojibake", f"{where} is garbled text ftfy cannot repair" + (f" at {bad}" if bad >= 0 else ""))
    return text, repairs


def guard_conversation(conv: dict[str, Any]) -> Counter:
    """Repair every message's text in place; returns the repair counts. Reject when one cannot be repaired.

    Tool-call arguments and tool schemas are checked, not repaired: editing JSON text would change the call.
    """
    repairs: Counter = Counter()
    for i, m in enumerate(conv["messages"]):
        where = f"message {i + 1} ({m.get('role')})"
        if m.get("content"):
            m["content"], fixed = guard_text(m["content"], where)
            repairs.update(fixed)
        for call in m.get("tool_calls") or []:
            _check_json(call.get("function"), f"{where} tool call")
    for tool in conv.get("tools") or []:
        _check_json(tool, "tool schema")
    return repairs


def _check_json(value: Any, where: str) -> None:
    text = json.dumps(value, ensure_ascii=False)
    found = SPECIAL_TOKEN.search(text)
    if found:
        raise Reject("special_token", f"{where} holds {found.group(0)!r}")
