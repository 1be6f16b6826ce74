"""BFCL calls, shared by the bfcl format and the suite's item maker: gold answers -> concrete call arguments,
call strings -> calls, BFCL schemas -> JSON schema."""

from __future__ import annotations

import ast
from typing import Any

from emergent.errors import Reject

# BFCL writes Python type names; JSON schema has its own. "any" has no JSON-schema type: drop it.
_TYPES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "list": "array",
    "int": "integer",
    "str": "string",
    "bool": "boolean",
}


def json_schema(node: Any) -> Any:
    """A copy of a BFCL function schema with Python type names turned into JSON-schema ones."""
    if isinstance(node, list):
        return [json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str):
            if value == "any":
                continue
            out[key] = _TYPES.get(value, value)
        else:
            out[key] = json_schema(value)
    return out


def tool_schema(fn: dict) -> dict:
    """The function schema (name, description, parameters; BFCL's `response` dropped), before the OpenAI wrapper."""
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise Reject("bad_tool_schema", "a function entry has no name")
    schema = {"name": fn["name"], "description": str(fn.get("description", "")).strip()}
    schema["parameters"] = json_schema(fn.get("parameters") or {"type": "object", "properties": {}})
    return schema


_OMIT = object()


def _chosen(allowed: Any, where: str) -> Any:
    """First acceptable value of one gold argument; `_OMIT` when only "" (= may be left out) is allowed."""
    if not isinstance(allowed, list):
        raise Reject("bad_answer", f"{where}: allowed values are not a list")
    for value in allowed:
        if isinstance(value, str) and value == "":
            continue
        if isinstance(value, dict):  # a dict parameter: each of its keys has its own list of allowed values
            return gold_arguments(value, where)
        return value
    return _OMIT


def gold_arguments(args: dict, where: str) -> dict:
    """Concrete arguments from BFCL's {arg: [allowed values]}: first non-empty value, optional args dropped."""
    if not isinstance(args, dict):
        raise Reject("bad_answer", f"{where}: arguments are not an object")
    out = {}
    for name, allowed in args.items():
        value = _chosen(allowed, f"{where}.{name}")
        if value is not _OMIT:
            out[name] = value
    return out


def parse_call(text: str, tools: dict[str, dict]) -> tuple[str, dict]:
    """`"mv(source='a', destination='b')"` -> ("mv", {...}); positional args named from the tool's parameters."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise Reject("bad_answer", f"gold call {text!r} is not a Python call") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, (ast.Name, ast.Attribute)):
        raise Reject("bad_answer", f"gold call {text!r} is not a plain function call")
    name = ast.unparse(node.func)
    if name not in tools:
        raise Reject("unknown_function", f"gold call {name!r} is not among the tools")
    params = list((tools[name].get("parameters") or {}).get("properties") or {})
    if len(node.args) > len(params):
        raise Reject("bad_answer", f"gold call {text!r} has more positional arguments than {name} has parameters")
    try:
        args = {params[i]: ast.literal_eval(a) for i, a in enumerate(node.args)}
        for kw in node.keywords:
            if kw.arg is None:
                raise ValueError("**kwargs")
            args[kw.arg] = ast.literal_eval(kw.value)
    except ValueError:
        raise Reject("bad_answer", f"gold call {text!r} has a non-literal argument") from None
    return name, args
