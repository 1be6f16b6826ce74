"""APIBench (Gorilla, TorchHub split): an instruction and the chosen hub model -> a worked answer.

The `code` field looks like a Python dict literal, `{'Instruction': ..., 'Output': {'domain': ...,
'api_call': ..., 'api_provider': ..., 'explanation': ..., 'code': ...}}`, but it is not valid Python:
the instruction is unquoted, strings hold raw newlines and unescaped quotes. So each field is cut out
between the known keys (`, 'next_key':`) and then read as a literal when it is one, else unquoted.
The user asks the instruction; the assistant explains the chosen API and shows its code (falling back
to the row's own `api_call` column). Rows whose output is not an API answer are quarantined.

The bucket is `technical`, not `tool_use`: the answer is prose plus Python that loads a model with
`torch.hub`, with no function schema, no tool call and no result.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from emergent.data.formats._common import field, pair
from emergent.errors import Reject

CATEGORY = "technical"
LICENSE = "Apache-2.0"

# Every key that appears at the top level or inside 'Output' in the TorchHub file; a value ends where
# the next one starts. Keys nested inside code (e.g. **{'topN': 6}) are deliberately not listed.
_KEYS = (
    "Instruction",
    "Input",
    "Output",
    "domain",
    "api_call",
    "api_provider",
    "explanation",
    "code",
    "list_of_tasks",
    "recommended_api",
    "solution",
    "mechanism",
    "principle",
)
_KEY_AT = re.compile(r"[{,]\s*'(" + "|".join(_KEYS) + r")':\s*")
_NO_INPUT = {"", "<noinput>", "none", "n/a"}


def parse_fields(text: str) -> dict[str, str]:
    """Key -> value text for every known key in an APIBench `code` string (first occurrence wins)."""
    marks = list(_KEY_AT.finditer(text))
    if not marks or marks[0].group(1) != "Instruction":
        raise Reject("unparseable_code", "the code field does not start with {'Instruction': ...")
    out: dict[str, str] = {}
    for mark, nxt in zip(marks, [*marks[1:], None], strict=True):
        end = nxt.start() if nxt else len(text)
        raw = text[mark.end() : end].strip()
        if nxt is None:
            raw = re.sub(r"\s*(\}\s*)+$", "", raw)  # the closing braces of 'Output' and the record
        out.setdefault(mark.group(1), _literal_text(raw))
    return out


def _literal_text(raw: str) -> str:
    """The string a value stands for: a Python literal when it parses, else the text minus matching quotes.

    A nested dict ('Output', 'solution') becomes "": its own keys were cut out separately.
    """
    raw = raw.strip()
    if raw[:1] == "{":
        return ""
    try:
        value = ast.literal_eval(raw.replace("\n", "\\n"))
        if isinstance(value, str):
            return value.strip()
    except (ValueError, SyntaxError):
        pass
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
    return raw.strip()


def convert(row: dict, source: Any) -> dict:
    parts = parse_fields(field(row, "code"))
    instruction = parts.get("Instruction", "")
    if not instruction:
        raise Reject("unparseable_code", "no instruction text")
    if parts.get("Output"):  # plain text, not an API answer (one NLI row slipped into the file)
        raise Reject("no_api_call", f"the output is {parts['Output'][:80]!r}, not an API answer")
    api_call = parts.get("api_call") or str(row.get("api_call") or "").strip()
    if "torch.hub.load" not in api_call:
        raise Reject("no_api_call", "the output names no torch.hub.load call")
    extra = parts.get("Input", "").strip()
    prompt = instruction if extra.lower() in _NO_INPUT or extra in instruction else f"{instruction}\n\n{extra}"
    code = parts.get("code", "")
    snippet = code if "torch.hub.load" in code else f"import torch\n{api_call}"
    explanation = parts.get("explanation", "").strip()
    answer = (
        f"{explanation}\n\n```python\n{snippet.strip()}\n```" if explanation else f"```python\n{snippet.strip()}\n```"
    )
    return pair(prompt, answer)
