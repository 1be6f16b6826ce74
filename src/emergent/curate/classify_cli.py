"""`emergent data classify` and `emergent data train-classifier` (registered by emergent.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the classifier commands to the `data` app."""
