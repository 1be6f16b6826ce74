"""Chat templates for models whose tokenizer has none (base models) or whose template should be replaced.

`model.chat_template` names a built-in template or a Jinja file. The trainer saves the tokenizer,
template included, into every adapter folder it writes, so evaluation, `emergent chat`, export and
other tools render conversations exactly as training did.

Built-in `chatml`: ChatML as plain text, with the tokenizer's end-of-sequence token after each
assistant turn (unless that token is `<|im_end|>` itself, as in ChatML-native vocabularies). The assistant turn's loss covers `<|im_end|>` and that token, so a base model whose
vocabulary has no `<|im_end|>` token still learns to stop, and generation stops on its own
end-of-sequence token. No token is added to the vocabulary: LoRA does not train the embeddings, and
added tokens would keep untrained embeddings.

`chatml` has no tool support: tool schemas, calls and results reach it as text in the Hermes layout
(`<tools>`, `<tool_call>{"name": ..., "arguments": ...}</tool_call>`, `<tool_response>`; lm/render.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHATML = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>' -}}"
    "{%- if message['role'] == 'assistant' and eos_token != '<|im_end|>' -%}{{- eos_token -}}{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
BUILT_IN = {"chatml": CHATML}


def template_text(setting: str) -> str:
    """A built-in template's text, or the contents of the Jinja file `setting` names."""
    if setting in BUILT_IN:
        return BUILT_IN[setting]
    path = Path(setting)
    if not path.is_file():
        raise ValueError(
            f"model.chat_template: {setting!r} is neither a built-in template ({', '.join(BUILT_IN)}) nor a file"
        )
    return path.read_text(encoding="utf-8")


def apply_chat_template_setting(tokenizer: Any, setting: str | None, model_name: str) -> Any:
    """Give `tokenizer` the configured template; without one it must bring its own."""
    if setting:
        tokenizer.chat_template = template_text(setting)
    elif not tokenizer.chat_template:
        raise ValueError(
            f"model {model_name}: its tokenizer has no chat template, so conversations cannot be rendered — "
            "set model.chat_template: chatml (or a Jinja file), or use an instruct/chat model"
        )
    return tokenizer
