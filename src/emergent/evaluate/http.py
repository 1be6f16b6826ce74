"""A minimal OpenAI-compatible chat client on the standard library (no SDK needed, no key in logs)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any


def api_key(env_var: str) -> str | None:
    """The key from the environment; callers never print it."""
    return os.environ.get(env_var) or None


def chat_completion(base_url: str, payload: dict[str, Any], key: str | None, timeout: float) -> dict[str, Any]:
    """POST {base_url}/chat/completions; raise RuntimeError naming the URL and status (never the key)."""
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode())
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")[:300]
        raise RuntimeError(f"{url}: HTTP {err.code} — {body}") from None
    except (urllib.error.URLError, TimeoutError) as err:
        raise RuntimeError(f"{url}: cannot reach the server ({err}) — check eval.*.base_url") from None


def message_text(response: dict[str, Any]) -> str:
    """The reply as text; tool calls become {"name", "arguments"} JSON so the style scorer sees them."""
    msg = (response.get("choices") or [{}])[0].get("message") or {}
    calls = msg.get("tool_calls") or []
    if calls:
        out = []
        for c in calls:
            fn = c.get("function", {})
            args = fn.get("arguments", "{}")
            try:
                args = json.loads(args) if isinstance(args, str) else args
            except ValueError:
                pass
            out.append({"name": fn.get("name"), "arguments": args})
        return json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False)
    return msg.get("content") or ""
