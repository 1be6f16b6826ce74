"""ESConv (thu-coai/Emotional-Support-Conversation): a help-seeker talking to a trained supporter.

Two file variants, chosen by suffix:
  .json  a list of dialogs {situation, dialog: [{speaker, content, annotation: {strategy}}]};
         seeker ("seeker" or "speaker" in FailedESConv.json) -> user, supporter ("supporter"/"listener") -> assistant.
  .tsv   one sliding window of a dialog per line, no header: turns joined by " EOS ", each turn
         "<score> <0 seeker|1 supporter> <turn index> <text>", supporter text prefixed with "[Strategy]".
Consecutive turns of one speaker are merged. Strategy labels are annotation: they never reach the
text. Leading supporter turns (a window that starts mid-dialog, a supporter's opening "hi") are
dropped because a conversation starts with the user; trailing seeker turns are dropped because
nothing answers them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import field
from emergent.errors import Reject

CATEGORY = "empathetic"
LICENSE = "CC-BY-NC-4.0"

SEEKER = {"seeker", "speaker", "usr", "user", "0"}
SUPPORTER = {"supporter", "listener", "sys", "system", "1"}

_WINDOW_TURN = re.compile(r"^\s*\S+ ([01]) \d+ (.*)$", re.S)
_STRATEGY = re.compile(r"^\s*\[[^\]]*\]\s*")


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    from emergent.data.readers import iter_hub_rows, iter_rows

    if source.hub:
        yield from iter_hub_rows(source.hub, source.hub_config, source.split)
        return
    for path in source.files:
        name = Path(str(path).partition("!")[0]).name.lower().removesuffix(".gz")
        if name.endswith(".tsv"):
            yield from _windows(Path(path))
        else:
            yield from iter_rows(path)


def _windows(path: Path) -> Iterator[tuple[str, Any]]:
    # Not CSV: the file has no header and no tabs, so the generic TSV reader would eat line 1 as a header.
    import gzip

    from emergent.data.readers import BadRow

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            origin = f"{path.name}:{lineno}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield origin, BadRow(origin, "non_utf8", raw.decode("utf-8", "replace"))
                continue
            if line.strip():
                yield origin, {"window": line}


def convert(row: dict, source: Any) -> dict:
    if "window" in row:
        turns = _window_turns(field(row, "window"))
    else:
        turns = _dialog_turns(row)
    return {"messages": _messages(turns), "tools": None}


def _window_turns(line: str) -> list[tuple[str, str]]:
    turns = []
    for i, part in enumerate(line.split(" EOS ")):
        m = _WINDOW_TURN.match(part)
        if m is None:
            raise Reject("malformed_transcript", f"turn {i + 1} is not '<score> <0|1> <index> <text>': {part[:80]!r}")
        turns.append(("user" if m.group(1) == "0" else "assistant", m.group(2)))
    return turns


def _dialog_turns(row: dict) -> list[tuple[str, str]]:
    dialog = row.get("dialog")
    # The hub copy (thu-coai/esconv) stores each dialog as JSON text in "text".
    if dialog is None and isinstance(row.get("text"), str):
        import json

        try:
            dialog = json.loads(row["text"]).get("dialog")
        except (ValueError, AttributeError):
            raise Reject("malformed_json", "'text' is not a JSON dialog with a 'dialog' list") from None
    if not isinstance(dialog, list) or not dialog:
        raise Reject("missing_field", "no 'dialog' list of turns")
    turns = []
    for i, turn in enumerate(dialog):
        text = turn.get("content", turn.get("text")) if isinstance(turn, dict) else None  # "text" in the hub copy
        if not isinstance(text, str):
            raise Reject("wrong_field_type", f"dialog turn {i + 1} has no 'content' text")
        speaker = str(turn.get("speaker", "")).strip().lower()
        if speaker in SEEKER:
            turns.append(("user", text))
        elif speaker in SUPPORTER:
            turns.append(("assistant", text))
        else:
            raise Reject("unknown_role", f"dialog turn {i + 1} has speaker {speaker!r}; expected seeker or supporter")
    return turns


def _messages(turns: list[tuple[str, str]]) -> list[dict]:
    merged: list[dict] = []
    for role, text in turns:
        if role == "assistant":
            text = _STRATEGY.sub("", text)
        text = " ".join(text.split())  # the corpus pads turns with newlines and double spaces
        if not text:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] += "\n" + text  # one chat message per line, as the speaker sent them
        else:
            merged.append({"role": role, "content": text})
    while merged and merged[0]["role"] == "assistant":
        merged.pop(0)
    while merged and merged[-1]["role"] == "user":
        merged.pop()
    if len(merged) < 2:
        raise Reject("no_exchange", "no seeker turn answered by a supporter turn")
    return merged
