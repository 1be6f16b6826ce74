"""MBPP (google-research, Mostly Basic Python Problems): a task plus its asserts -> a code answer.

The paper splits the 974 tasks by task_id; `options: {splits: [...]}` picks which are read, by default
every split but `test`, the benchmark's evaluation split. Rows of other splits are quarantined as
`evaluation_split` (counted, never trained on).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from emergent.data.formats._common import field, pair
from emergent.errors import ConfigError, Reject

CATEGORY = "technical"
LICENSE = "CC-BY-4.0"
OPTIONS = {
    "splits": "the task-id splits to read (default prompt, validation, train; test is an evaluation set)",
}

SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}
DEFAULT_SPLITS = ("prompt", "validation", "train")


def splits(source: Any) -> tuple[str, ...]:
    """The splits a source reads (`options.splits`, default all but test)."""
    options = getattr(source, "options", None) or {}
    wanted = options.get("splits", DEFAULT_SPLITS)
    if isinstance(wanted, str) or not wanted or any(w not in SPLITS for w in wanted):
        raise ConfigError(
            f"source {source.name!r}: options.splits must be a list of {', '.join(SPLITS)}; got {wanted!r}"
        )
    return tuple(wanted)


def check_options(source: Any) -> None:
    splits(source)


def rows(source: Any) -> Iterator[tuple[str, Any]]:
    """Every row of the files (or the hub split); the options are checked before the first."""
    from emergent.data.readers import iter_source_rows

    splits(source)
    yield from iter_source_rows(source)


def _check_split(row: dict, source: Any) -> None:
    tid = row.get("task_id")
    split = next((name for name, ids in SPLITS.items() if isinstance(tid, int) and tid in ids), None)
    wanted = splits(source)
    if split is None:
        if set(wanted) != set(SPLITS):  # without an id the split is unknown: only "read every split" keeps it
            raise Reject("missing_field", "no integer 'task_id' to tell the split by (options.splits)")
    elif split not in wanted:
        ids = SPLITS[split]
        raise Reject(
            "evaluation_split" if split == "test" else "split_not_read",
            f"task {tid} is in MBPP's {split} split (ids {ids.start}-{ids.stop - 1}); options.splits reads {list(wanted)}",
        )


# Task 118 starts with "[link text](https:// [link text](https:// [link text](https://)))": an editor artefact.
_BROKEN_LINKS = re.compile(r"^(?:\s*\[[^\]]*\]\(https?://\s*)+\)*\s*")


def _code(text: str) -> str:
    # The files carry Windows line endings and trailing blanks; the code itself is kept as written.
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")


def convert(row: dict, source: object) -> dict:
    _check_split(row, source)
    task = _BROKEN_LINKS.sub("", field(row, "text")).strip()
    task = task[:1].upper() + task[1:]
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
