"""Fixtures for the report stage: a finished fake run folder written from the stage contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from .fake_run import make_fake_run


@pytest.fixture
def fake_run(tmp_path: Path) -> Path:
    """RUN with data/manifest.json, train/{metrics.jsonl, train_summary.json, adapter/}, eval/{eval.json, generations.jsonl}."""
    return make_fake_run(tmp_path / "run")
