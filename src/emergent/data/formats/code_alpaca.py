"""Code Alpaca (sahil280114/codealpaca): alpaca-style JSON of programming instructions.

new_codealpaca.json also has a `response` column identical to `output`; `output` is used.
"""

from __future__ import annotations

from typing import Any

from emergent.data.formats import generic

CATEGORY = "technical"
LICENSE = "CC-BY-NC-4.0"


def convert(row: dict, source: Any) -> dict:
    return generic.convert(row, source, flavour="alpaca")
