"""Small helpers shared by the format modules."""

from __future__ import annotations

import zlib
from typing import Any

from emergent.errors import ConfigError, Reject


def field(row: dict, key: str, *, required: bool = True) -> str:
    """The row's text value at `key` (numbers become text); missing or blank -> Reject when required."""
    value = row.get(key)
    if value is None or (isinstance(value, float) and value != value):  # None or NaN from CSV/Parquet
        if required:
            raise Reject("missing_field", f"no {key!r}")
        return ""
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise Reject("wrong_field_type", f"{key!r} is {type(value).__name__}, expected text")
    if required and not value.strip():
        raise Reject("missing_field", f"{key!r} is empty")
    return value


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text.strip()}


def assistant(text: str, tool_calls: list | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": text.strip()}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return msg


def system(text: str) -> dict[str, Any]:
    return {"role": "system", "content": text.strip()}


def pair(prompt: str, answer: str) -> dict[str, Any]:
    """A single-turn conversation."""
    return {"messages": [user(prompt), assistant(answer)], "tools": None}


def pick(choices: tuple[str, ...], key: str, offset: int = 0) -> str:
    """One of `choices`, fixed by a hash of `key`: phrasings vary across records, and reruns are identical."""
    return choices[(zlib.crc32(key.encode("utf-8")) + offset) % len(choices)]


def choice_option(source: Any, key: str, choices: Any, default: str) -> str:
    """The source's `options[key]`, one of `choices` (default `default`); ConfigError naming them otherwise."""
    value = (getattr(source, "options", None) or {}).get(key, default)
    if value not in choices:
        raise ConfigError(f"source {source.name!r}: options.{key} must be one of {', '.join(choices)}, got {value!r}")
    return value
