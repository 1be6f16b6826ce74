"""Formats turn one raw row into one conversation (`{"messages": [...], "tools": [...] | None}`).

A format is a module with:
    CATEGORY: str | None      default bucket (None: mixed, classified per example during curation)
    LICENSE: str | None       default licence when the source config gives none
    def convert(row: dict, source: SourceConfig) -> dict     raise Reject(reason) for unusable rows
and optionally
    OPTIONS: dict[str, str]   the keys a source's `options:` may set, each with what it does (none without it)
    def check_options(source: SourceConfig) -> None    ConfigError for option values it cannot use;
                              called when the config loads, so a bad value fails before any row is read
    def rows(source: SourceConfig) -> Iterator[tuple[origin, dict | BadRow]]
for corpora whose records are not one-row-per-line of a single file (answers in a second file,
zip members, a schema file to join). Without `rows`, every file of the source is read with
`emergent.data.readers.iter_rows`. One row in, one conversation or one quarantine entry out:
that is what lets ingestion prove input = accepted + quarantined.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emergent.data.config import SourceConfig
    from emergent.data.readers import Row

GENERIC = ("alpaca", "sharegpt", "openai", "prompt_completion")

# name -> module under emergent.data.formats; imported only when used.
FORMATS: dict[str, str] = {
    "alpaca": "generic",
    "sharegpt": "generic",
    "openai": "generic",
    "prompt_completion": "generic",
    "counsel_chat": "counsel_chat",
    "esconv": "esconv",
    "gsm8k": "gsm8k",
    "hh_rlhf": "hh_rlhf",
    "humaneval": "humaneval",
    "mbpp": "mbpp",
    "code_alpaca": "code_alpaca",
    "bfcl": "bfcl",
    "apibench": "apibench",
    "ethics": "ethics",
    "ibm_debater": "ibm_debater",
    "nq_open": "nq_open",
    "self_instruct": "self_instruct",
    "alpaca_seed": "alpaca_seed",
    "sgd": "sgd",
    "topical_chat": "topical_chat",
    "commonsense_dialogues": "commonsense_dialogues",
    "aesop": "aesop",
    "duorc_story": "duorc_story",
    "pubmedqa": "pubmedqa",
    "medquad": "medquad",
    "gpteacher_roleplay": "gpteacher_roleplay",
}


class Format:
    """A loaded format: the module plus, for generic formats, which flavour of the generic module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.module: ModuleType = importlib.import_module(f"emergent.data.formats.{FORMATS[name]}")
        self.category: str | None = getattr(self.module, "CATEGORY", None)
        self.license: str | None = getattr(self.module, "LICENSE", None)

    def rows(self, source: SourceConfig) -> Iterator[Row]:
        if hasattr(self.module, "rows"):
            yield from self.module.rows(source)
            return
        from emergent.data.readers import iter_source_rows

        yield from iter_source_rows(source)

    def convert(self, row: dict, source: SourceConfig) -> dict:
        if self.name in GENERIC:
            return self.module.convert(row, source, flavour=self.name)
        return self.module.convert(row, source)


def get_format(name: str) -> Format:
    return Format(name)
