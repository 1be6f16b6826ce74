"""The language-model layer's tests run the tiny model on one thread, as the trainer's do."""

from __future__ import annotations

import pytest

from torch_threads import single_torch_thread

one_torch_thread = pytest.fixture(autouse=True, scope="package")(single_torch_thread)
