"""HumanEval (openai/human-eval): complete a Python function from its signature and docstring.

prompt -> a user request to complete the function; prompt + canonical_solution -> the assistant's
answer as one complete code block. The hidden `test` is not shown (it stays an evaluation asset).
"""

from __future__ import annotations

from emergent.data.formats._common import field, pair

CATEGORY = "technical"
LICENSE = "MIT"


def convert(row: dict, source: object) -> dict:
    prompt = field(row, "prompt").rstrip()
    solution = field(row, "canonical_solution").rstrip()
    name = field(row, "entry_point", required=False).strip()
    target = f"`{name}`" if name else "this function"
    request = f"Complete {target} so it does what its docstring says:\n\n```python\n{prompt}\n```"
    answer = f"Here is the complete implementation:\n\n```python\n{prompt}\n{solution}\n```"
    return pair(request, answer)
