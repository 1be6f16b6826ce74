"""Tool-use items: BFCL-style AST match of the reply's call against the gold call.

Graded in three steps, each needing the one before: the reply holds a call that parses (1/3), it names
the gold function (2/3), its arguments match (1): every required gold argument present with an allowed
value, nothing the function does not take. Plain prose holds no call and scores 0. Values compare as
BFCL does: numbers by value (1 == 1.0), strings without case, spaces and punctuation.
"""

from __future__ import annotations

import ast
import json
import re
import string
from typing import Any

from emergent.evaluate.checks.text import Result

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.S)
_FENCED = re.compile(r"```(?:json|python|tool_code)?\s*(.*?)```", re.S)


def _from_json(obj: Any) -> list[tuple[str, dict]]:
    if isinstance(obj, list):
        return [c for o in obj for c in _from_json(o)]
    if not isinstance(obj, dict):
        return []
    if isinstance(obj.get("tool_calls"), list):
        return _from_json(obj["tool_calls"])
    if isinstance(obj.get("function"), dict):
        return _from_json(obj["function"])
    args = obj.get("arguments", obj.get("parameters", obj.get("args")))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return []
    if isinstance(obj.get("name"), str) and isinstance(args, dict):
        return [(obj["name"], args)]
    if len(obj) == 1:  # BFCL's own answer shape: {"fn": {"arg": value}}
        ((name, a),) = obj.items()
        if isinstance(a, dict):
            return [(name, a)]
    return []


def _from_python(text: str) -> list[tuple[str, dict]]:
    """Calls written as Python: `fn(a=1)` or `[fn(a=1), g(b=2)]`; only literal keyword arguments count."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return []
    nodes = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    calls = []
    for n in nodes:
        if not isinstance(n, ast.Call) or not isinstance(n.func, (ast.Name, ast.Attribute)):
            return []
        try:
            args = {kw.arg: ast.literal_eval(kw.value) for kw in n.keywords if kw.arg}
        except ValueError:
            return []
        calls.append((ast.unparse(n.func), args))
    return calls


def parse_calls(reply: str) -> list[tuple[str, dict]]:
    """Every (function, arguments) the reply calls, from JSON or Python syntax, tagged, fenced or bare."""
    candidates = _TAGGED.findall(reply) + _FENCED.findall(reply) + [reply.strip()]
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = reply.find(open_), reply.rfind(close)
        if 0 <= i < j:
            candidates.append(reply[i : j + 1])
    for line in reply.splitlines():  # a call on a line of its own after some prose
        if re.match(r"^\s*[\w.]+\(.*\)\s*$", line):
            candidates.append(line)
    for c in candidates:
        try:
            calls = _from_json(json.loads(c))
        except ValueError:
            calls = _from_python(c)
        if calls:
            return calls
    return []


def _norm(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        return "".join(ch for ch in v.lower() if ch not in string.punctuation and not ch.isspace())
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def _allowed(value: Any, allowed: list[Any]) -> bool:
    for a in allowed:
        if isinstance(a, dict) and isinstance(value, dict):  # nested gold: each key has its own allowed list
            if all(_allowed(value.get(k), v) if value.get(k) is not None else "" in v for k, v in a.items()):
                return True
        elif _norm(value) == _norm(a):
            return True
    return False


def arguments_match(args: dict, gold: dict[str, list[Any]], params: list[str] | None) -> tuple[bool, str]:
    if params is not None:
        extra = [k for k in args if k not in params]
        if extra:
            return False, f"arguments the function does not take: {extra}"
    for name, allowed in gold.items():
        if name not in args:
            if "" in allowed:  # BFCL: "" among the allowed values = the argument may be left out
                continue
            return False, f"missing argument {name!r}"
        if not _allowed(args[name], allowed):
            return False, f"{name}={args[name]!r} not in {allowed}"
    return True, "arguments match"


def tool_call(spec: dict[str, Any], reply: str) -> Result:
    """spec: {ground_truth: [{fn: {arg: [allowed]}}], parameters: {fn: [param names]}} (one gold call)."""
    calls = parse_calls(reply)
    if not calls:
        return Result(0.0, False, "no parseable call")
    ((gold_fn, gold_args),) = spec["ground_truth"][0].items()
    named = [(n, a) for n, a in calls if n == gold_fn]
    if not named:
        return Result(1 / 3, False, f"called {calls[0][0]!r}, not {gold_fn!r}")
    params = (spec.get("parameters") or {}).get(gold_fn)
    why = ""
    for _, args in named:
        ok, why = arguments_match(args, gold_args, params)
        if ok:
            return Result(1.0, True, why)
    return Result(2 / 3, False, why)
