"""Stanford Alpaca's 175 seed tasks: the Self-Instruct shape (instruction + instances), so the same reader.

Research-only (CC BY-NC 4.0): use from the shared corpora, never bundle into the package sample.
"""

from __future__ import annotations

from emergent.data.formats.self_instruct import convert, rows

CATEGORY = None
LICENSE = "CC-BY-NC-4.0"

__all__ = ["CATEGORY", "LICENSE", "convert", "rows"]
