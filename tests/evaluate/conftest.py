"""Fixtures of the evaluation tests."""

from __future__ import annotations

import pytest
from eval_helpers import STYLED


@pytest.fixture(scope="session")
def styled() -> dict[str, list[str]]:
    return STYLED
