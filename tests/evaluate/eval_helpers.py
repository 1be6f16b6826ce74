"""Hand-made replies whose style is known, and a scored-turn builder for metric tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from emergent.evaluate.style import style_features

STYLED: dict[str, list[str]] = {
    "technical": [
        "Use an index on the filter column:\n\n```sql\nCREATE INDEX idx_orders_customer ON orders(customer_id);\n```\n\nThen select only the columns you need instead of `SELECT *`.",
        "Here is a function:\n\n```python\ndef is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n```",
        "```bash\nfind . -type f -exec du -h {} + | sort -rh | head -n 10\n```\nThis lists the ten largest files.",
    ],
    "empathetic": [
        "I'm so sorry you're going through this. It sounds really overwhelming, and it's completely understandable to feel stressed. You're not alone, and your feelings are valid. Would you like to talk about what has been weighing on you most?",
        "That sounds incredibly painful. Losing your dog is losing a family member, and it makes sense that you can't stop crying. Be kind to yourself right now; grief takes time, and you deserve support.",
        "It's okay to feel anxious before an interview. You have prepared, and your feelings are a sign that this matters to you. Take a slow breath; you can do this, and I'm here if you want to talk it through.",
    ],
    "creative": [
        'Once upon a time, in a village by the sea, there lived an old lighthouse keeper. One day he found a bottle on the rocks. "Who sent you?" he whispered, and the waves only laughed.',
        'Long ago, a small dragon lived in a cave beneath the stars. Every night she trembled at the dark, until one evening the moon smiled and said, "I will keep watch for you."',
        "There was once a robot who wandered the city at night. He found a brush in the rain and painted the sky the colour of the morning he had never seen.",
    ],
    "tool_use": [
        '{"name": "get_weather", "arguments": {"city": "Lisbon", "unit": "celsius"}}',
        '{"name": "search_flights", "arguments": {"origin": "JFK", "destination": "LHR", "date": "2026-12-20", "passengers": 2}}',
        '<tool_call>\n{"arguments": {"minutes": 12, "label": "pasta"}, "name": "set_timer"}\n</tool_call>',
    ],
}


def scored_turn(
    id: str,
    context: str,
    predicted: str,
    response: str = "ok",
    kind: str = "prompt",
    turn: int = 0,
    shift_at: int | None = None,
    p_expected: float | None = None,
    probs: dict[str, float] | None = None,
    prompt: str = "a prompt",
) -> dict[str, Any]:
    """A scored turn as run.score_generations leaves it, with the prediction set by hand."""
    if probs is None:
        probs = {context: 0.1, predicted: 0.9} if predicted != context else {context: 0.9}
        if p_expected is not None:
            probs[context] = p_expected
    return {
        "id": id,
        "kind": kind,
        "turn": turn,
        "shift_at": shift_at,
        "context": context,
        "prompt": prompt,
        "response": response,
        "predicted": predicted,
        "probs": probs,
        "profile": style_features(response),
        "style_hit": None,
    }


def tiny_eval_config(path: Path, model_dir: Path, output_dir: Path, **eval_overrides: Any) -> Path:
    """A run config for the tiny test model on a small subset of the suite (one of each dialogue kind)."""
    ev = {
        "prompts_per_context": 2,
        "consistency_dialogues": 1,
        "transition_dialogues": 1,
        "dialogues_per_kind": 1,
        "batch_size": 8,
        "decoding": {"max_new_tokens": 6},
        "bootstrap_samples": 200,
        **eval_overrides,
    }
    cfg = {"name": "t", "output_dir": str(output_dir), "model": {"name": str(model_dir)}, "eval": ev}
    path.write_text(yaml.safe_dump(cfg))
    return path
