"""MBPP (google-research, Mostly Basic Python Problems): a task plus its asserts -> a code answer."""

from __future__ import annotations

from emergent.data.formats._common import field, pair
from emergent.errors import Reject

CATEGORY = "technical"
LICENSE = "CC-BY-4.0"


def _code(text: str) -> str:
    # The files carry Windows line endings and trailing blanks; the code itself is kept as written.
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")


def convert(row: dict, source: object) -> dict:
    task = field(row, "text").strip()
    tests = row.get("test_list")
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise Reject("missing_field", "no 'test_list' list of assert strings")
    setup = _code(field(row, "test_setup_code", required=False))
    prompt = task
    if tests:
        prompt += "\n\nYour code should pass these tests:\n\n```python\n" + "\n".join(_code(t) for t in tests) + "\n```"
    if setup:
        prompt += f"\n\nThe tests run after this setup code:\n\n```python\n{setup}\n```"
    return pair(prompt, f"```python\n{_code(field(row, 'code'))}\n```")
