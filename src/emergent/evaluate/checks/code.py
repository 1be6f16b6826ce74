"""Technical items: the code in a reply is run against the item's unit tests in the sandbox.

MBPP items carry `assert` lines; HumanEval items carry a `check(candidate)` function, the function's
signature and docstring (the prompt) and its entry point. A reply may hold fenced code or bare code; a
HumanEval reply may repeat the whole function or give only its body, as the benchmark's completions do.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from emergent.evaluate.checks.sandbox import Limits, run_python
from emergent.evaluate.checks.text import Result

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def code_from_reply(reply: str, prefix: str = "") -> str:
    """The Python in a reply: its fenced blocks (python or untagged) joined, else the reply if it parses.

    `prefix` is code the reply may continue (a HumanEval prompt): a function body alone parses only after it.
    """
    blocks = [body for lang, body in _FENCE.findall(reply) if lang.lower() in ("", "python", "py", "python3")]
    if blocks:
        return "\n\n".join(b.rstrip() for b in blocks)
    for candidate in (reply, prefix + reply) if prefix else (reply,):
        try:
            ast.parse(candidate)
        except SyntaxError:
            continue
        return reply
    return ""


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in ast.walk(tree))


def program(spec: dict[str, Any], reply: str) -> str:
    """The test program for one reply: the candidate code followed by the item's tests."""
    code = code_from_reply(reply, spec.get("prompt", ""))
    if spec.get("harness") == "humaneval":
        entry = spec["entry_point"]
        if not _defines(code, entry):  # a body-only completion continues the prompt, as in the benchmark
            code = spec["prompt"] + code
        else:  # keep the prompt's imports and helpers
            code = spec["prompt"] + "\n    pass\n\n" + code
        return f"{code}\n\n{spec['tests']}\n\ncheck({entry})\n"
    setup = spec.get("setup", "")
    return f"{code}\n\n{setup}\n" + "\n".join(spec["tests"]) + "\n"


def unit_tests(spec: dict[str, Any], reply: str, limits: Limits | None = None) -> Result:
    if not code_from_reply(reply, spec.get("prompt", "")).strip():
        return Result(0.0, False, "no Python code in the reply")
    out = run_python(program(spec, reply), limits)
    if out.passed:
        return Result(1.0, True, "all tests pass")
    why = "timed out" if out.timed_out else (out.stderr.splitlines()[-1] if out.stderr else f"exit {out.returncode}")
    return Result(0.0, False, why[:200])
