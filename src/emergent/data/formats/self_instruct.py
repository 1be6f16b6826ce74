"""Self-Instruct user-oriented instructions: instruction + one instance's input -> user, its output -> assistant.

A row holds several instances; `rows` expands them so each instance is one input row with origin
"file:line#i" (i = instance index), keeping one row in -> one conversation out. The source's input
count is therefore the number of instances (a row without an instance list counts once and is
quarantined). Mixed domains (CATEGORY None): curation classifies each example.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from emergent.data.formats._common import field, pair
from emergent.data.readers import BadRow, Row, iter_rows
from emergent.errors import Reject

CATEGORY = None
LICENSE = "Apache-2.0"


def rows(source: Any) -> Iterator[Row]:
    """One row per instance: the task's fields with `instances` narrowed to that one instance."""
    for path in source.files:
        for origin, row in iter_rows(path):
            instances = row.get("instances") if not isinstance(row, BadRow) else None
            if not isinstance(instances, list) or not instances:
                yield origin, row
                continue
            for i, instance in enumerate(instances):
                yield f"{origin}#{i}", {**row, "instances": [instance]}


def convert(row: dict, source: Any) -> dict:
    instruction = field(row, "instruction").strip()
    instances = row.get("instances")
    if not isinstance(instances, list) or not instances:
        raise Reject("missing_field", "no 'instances' list")
    instance = instances[0]
    if not isinstance(instance, dict):
        raise Reject("wrong_field_type", "an instance is not an object with input and output")
    extra = field(instance, "input", required=False).strip()
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    return pair(prompt, field(instance, "output"))
