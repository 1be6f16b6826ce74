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

FailedESConv.json holds the sessions the corpus authors rejected ("Try using Google"), so by default
every one is quarantined as `failed_session`. `options: {failed_min_rating: N}` keeps those whose
seeker rated the supporter's empathy and relevance both at least N of 5 (33 of the 196 at N=4); the
54 sessions without a rating are quarantined as `failed_session_unrated`.
The .tsv holds one window per supporter turn, so one dialog appears as ~14 overlapping windows.
They are joined back into the whole dialog (turns keyed by their index; a window whose turn text
differs from the one seen at that index starts the next dialog): one record per dialog, emitted at
its last window, and every other window quarantined as `merged_window`. Where the windows skip
turns (a run of seeker messages longer than a window), the longest run without a gap is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import field
from emergent.errors import ConfigError, Reject

CATEGORY = "empathetic"
LICENSE = "CC-BY-NC-4.0"

SEEKER = {"seeker", "speaker", "usr", "user", "0"}
SUPPORTER = {"supporter", "listener", "sys", "system", "1"}

_WINDOW_TURN = re.compile(r"^\s*\S+ ([01]) \d+ (.*)$", re.S)
_INDEXED_TURN = re.compile(r"^\s*(\S+) ([01]) (\d+) (.*)$", re.S)
OPTIONS = {
    "failed_min_rating": "keep FailedESConv sessions the seeker rated at least N (1-5); default: drop them all",
}
_STRATEGY = re.compile(r"^\s*\[[^\]]*\]\s*")


def failed_min_rating(source: Any) -> int | None:
    """The source's `failed_min_rating` option (None: drop every failed session); ConfigError when invalid."""
    options = getattr(source, "options", None) or {}
    n = options.get("failed_min_rating")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 5):
        raise ConfigError(
            f"source {source.name!r}: options.failed_min_rating must be 1-5 (the seeker's survey scale) "
            f"or null to drop every FailedESConv session, got {n!r}"
        )
    return n


def check_options(source: Any) -> None:
    failed_min_rating(source)


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    from emergent.data.readers import iter_hub_rows, iter_rows

    min_rating = failed_min_rating(source)
    if source.hub:
        yield from iter_hub_rows(source.hub, source.hub_config, source.split)
        return
    for path in source.files:
        name = Path(str(path).partition("!")[0]).name.lower().removesuffix(".gz")
        if name.endswith(".tsv"):
            yield from _dialogs(_windows(Path(path)))
        elif "failed" in name:
            yield from _rated_sessions(iter_rows(path), min_rating)
        else:
            yield from iter_rows(path)


def _rated_sessions(reader: Iterator[tuple[str, Any]], min_rating: int | None) -> Iterator[tuple[str, Any]]:
    """Failed sessions: all quarantined, or only those rated below `min_rating` (and the unrated)."""
    import json

    from emergent.data.readers import BadRow

    for origin, row in reader:
        if isinstance(row, dict):
            seeker = (row.get("survey_score") or {}).get("seeker") or {}
            ratings = [seeker.get(k) for k in ("empathy", "relevance")]
            reason = None
            if min_rating is None:
                reason = "failed_session"
            elif not all(isinstance(r, (str, int)) and str(r).strip().isdigit() for r in ratings):
                reason = "failed_session_unrated"
            elif min(int(r) for r in ratings) < min_rating:
                reason = "failed_session_low_rating"
            if reason:
                row = BadRow(origin, reason, json.dumps(row, ensure_ascii=False))
        yield origin, row


def _dialogs(windows: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """One row per dialog out of its sliding windows (see the module docstring)."""
    from emergent.data.readers import BadRow

    turns: dict[int, tuple[str, str, str]] = {}  # index -> (score, speaker, text)
    origins: list[str] = []

    def flush() -> Iterator[tuple[str, Any]]:
        if not origins:
            return
        first, last = origins[0], origins[-1]
        span = f"{first}-{last.rsplit(':', 1)[-1]}" if len(origins) > 1 else first
        for origin in origins[:-1]:
            yield origin, BadRow(origin, "merged_window", f"window merged into the dialog record {span}")
        run = _longest_run(sorted(turns))
        yield span, {"window": " EOS ".join(" ".join((*turns[i][:2], str(i), turns[i][2])) for i in run)}

    for origin, row in windows:
        if isinstance(row, BadRow):
            yield origin, row
            continue
        parsed = [_INDEXED_TURN.match(part) for part in row["window"].split(" EOS ")]
        if not all(parsed):
            yield from flush()
            turns, origins = {}, []
            yield origin, row  # convert names the malformed turn
            continue
        window = {int(m.group(3)): (m.group(1), m.group(2), m.group(4).strip()) for m in parsed}
        if any(i in turns and turns[i][1:] != turn[1:] for i, turn in window.items()):
            yield from flush()
            turns, origins = {}, []
        turns.update(window)
        origins.append(origin)
    yield from flush()


def _longest_run(indexes: list[int]) -> list[int]:
    runs: list[list[int]] = []
    for i in indexes:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return max(runs, key=len)


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
