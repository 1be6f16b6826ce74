"""`emergent data preview --rendered`: the training text with its loss-bearing spans marked."""

from __future__ import annotations

import io

from rich.console import Console

from emergent.data.preview import CLOSE, OPEN, print_rendered
from train.conftest import conversations


def test_preview_prints_the_training_text_with_loss_spans_bracketed(tiny_model_dir):
    buf = io.StringIO()
    conv = conversations(1, offset=4)[0]  # a tool call conversation
    print_rendered([conv], str(tiny_model_dir), Console(file=buf, color_system=None, width=200))
    text = buf.getvalue()
    assert f"{OPEN}<tool_call>" in text and f"</tool_call><|im_end|>\n{CLOSE}" in text
    assert f"{OPEN}It is 4 degrees Celsius in" in text
    assert "<|im_start|>user\nWhat is the weather" in text
    assert conv["_id"] in text.splitlines()[1]  # metadata only in the header rule
    assert text.count(OPEN) == 1 + 2  # the legend, then one per assistant turn


def test_preview_with_mask_history_marks_only_the_last_turn(tiny_model_dir):
    buf = io.StringIO()
    conv = conversations(1, offset=4)[0]
    console = Console(file=buf, color_system=None, width=200)
    print_rendered([conv], str(tiny_model_dir), console, last_turn_only=True)
    text = buf.getvalue()
    assert f"{OPEN}It is 4 degrees Celsius in" in text
    assert f"{OPEN}<tool_call>" not in text and "<tool_call>" in text  # the call is context now
    assert text.count(OPEN) == 1 + 1
