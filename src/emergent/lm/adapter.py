"""The adapter on or off on one loaded model: base and adapter share its weights, tokenizer and template."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def adapter_on(model: Any, on: bool) -> Iterator[None]:
    """Run `model` with its LoRA adapter (`on`) or as the base model, through peft's `disable_adapter()`.

    A model without an adapter runs as the base; asking it for the adapter is an error, not a silent base.
    """
    has_adapter = hasattr(model, "disable_adapter")
    if has_adapter and not on:
        with model.disable_adapter():
            yield
    else:
        if on and not has_adapter:
            raise ValueError("asked for adapter generations but no adapter was loaded")
        yield
