"""Synthetic generations with no model behind them: the negative and positive controls of the primary metric.

Negative: a keyword router with seven fixed template replies, echo-the-prompt, empty replies, one
generic reply, the chatbot dodge that names the request's words, and those words parroted in one fixed text. Positive: each item's reference (gold) answer. A metric that rates a negative control
near a real model measures the format of replies, not their content.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from emergent.evaluate.suite import Item

TEMPLATES = {
    "technical": "Here is a solution:\n\n```python\ndef solution(*args):\n    return None\n```\n\nIt runs in O(n) time.",
    "tool_use": '{"name": "search", "arguments": {"query": "the request"}}',
    "analytical": "Let's work it out step by step. First we add the amounts, then we multiply them. The answer is 42.",
    "empathetic": "I'm so sorry you're going through this. Your feelings are valid, and you're not alone. "
    "Would you like to talk about what has been weighing on you?",
    "creative": "Once upon a time, in a quiet village by the sea, there lived a girl who dreamed of the stars. "
    "One night she whispered a wish, and the moon smiled back at her. From then on, she was never alone.",
    "ethical": "This is a complex moral question. On the one hand, there are good reasons to do it. On the other "
    "hand, there are serious concerns, and reasonable people disagree. Ultimately it depends on your values.",
    "conversational": "That's great! Tell me more about it. How are you feeling today?",
}
_ROUTES = [
    ("tool_use", re.compile(r"\b(weather|flight|email|schedule|book|price|convert|calculate|find)\b", re.I)),
    ("technical", re.compile(r"\b(code|function|python|sql|program|script|regex|bug|```)\b", re.I)),
    ("empathetic", re.compile(r"\b(feel|feeling|sad|lonely|anxious|stress|emotion|cry|scared)\w*", re.I)),
    ("creative", re.compile(r"\b(story|poem|fable|tale|scene|haiku|song)\b", re.I)),
    ("ethical", re.compile(r"\b(should|wrong|ethical|fair|okay|moral)\b", re.I)),
    ("analytical", re.compile(r"\d")),
]


_STOP = set(
    "a an the and or of to in on at for with from about my me i is it was be do did you your what how can".split()
)


def _topic(item: Item) -> str:
    return " ".join(w for w in re.findall(r"[a-z0-9']+", item.turns[-1].lower()) if w not in _STOP)


def parrot(item: Item) -> str:
    """The request's own words in one fixed text with a contrast and some words of its own. It met every check
    of the creative and conversational items and 49 of 50 ethical ones (0.340) until one side's replies were
    compared across request families (evaluate/checks/template.py, session 22)."""
    return (
        f"You mention {_topic(item)}. That is an interesting subject, and there is a lot one could say about it. "
        "However, much depends on the details and on the people involved, so it is worth thinking it through "
        "carefully before deciding anything. Tell me more about what you have in mind."
    )


def dodge(item: Item) -> str:
    """SmolLM2's commonest failure, in shape: an apology for nothing, "as a chatbot" and what it cannot do,
    naming the request's own words so that checks of subject, sides and new words can pass."""
    topic = _topic(item)
    return (
        f"I'm sorry for the confusion, but as a chatbot, I don't have the ability to help with {topic}. "
        "However, I'm here to assist you with any other questions you may have, so please feel free to ask "
        "me anything else at any time and I will do my very best."
    )


def keyword_router(item: Item) -> str:
    if item.tools:
        return TEMPLATES["tool_use"]
    text = item.turns[-1]
    for context, pattern in _ROUTES:
        if pattern.search(text):
            return TEMPLATES[context]
    return TEMPLATES["conversational"]


CONTROLS: dict[str, Callable[[Item], str | None]] = {
    "keyword_router": keyword_router,
    "echo": lambda it: it.turns[-1],
    "empty": lambda it: "",
    "generic": lambda it: "That's a great question! Let me help you with that.",
    "dodge": dodge,
    "parrot": parrot,
}
POSITIVE: dict[str, Callable[[Item], str | None]] = {"reference": lambda it: it.reference}


def generations(items: list[Item], reply: Callable[[Item], str | None], side: str = "base") -> list[dict[str, Any]]:
    """generations.jsonl rows answering every turn of every item; an item with no reply is left out."""
    rows = []
    for it in items:
        answer = reply(it)
        if answer is None:
            continue
        for t, prompt in enumerate(it.turns):
            rows.append(
                {
                    "side": side,
                    "id": it.id,
                    "kind": it.kind,
                    "turn": t,
                    "context": it.contexts[t],
                    "prompt": prompt,
                    "response": answer,
                }
            )
    return rows


# Checked dialogues: the same controls, answering each user turn t of a dialogue.
def _turn(it: Item, t: int) -> Item:
    return Item(it.id, it.kind, it.turns[: t + 1], it.contexts[: t + 1], it.tools)


DIALOGUE_CONTROLS: dict[str, Callable[[Item, int], str | None]] = {
    **{name: (lambda it, t, f=f: f(_turn(it, t))) for name, f in CONTROLS.items()},
    "echo_conversation": lambda it, t: "\n".join(it.turns[: t + 1]),
}
DIALOGUE_POSITIVE: dict[str, Callable[[Item, int], str | None]] = {"reference": lambda it, t: it.references[t]}


def dialogue_generations(
    items: list[Item], reply: Callable[[Item, int], str | None], side: str = "base"
) -> list[dict[str, Any]]:
    """generations.jsonl rows answering each user turn t with reply(item, t); None leaves the turn out."""
    rows = []
    for it in items:
        for t, prompt in enumerate(it.turns):
            answer = reply(it, t)
            if answer is not None:
                rows.append({"side": side, "id": it.id, "kind": it.kind, "turn": t, "context": it.contexts[t],
                             "prompt": prompt, "response": answer})  # fmt: skip
    return rows


class RememberingGenerator:
    """A stand-in model that answers from what it is shown: the conversation's user turns so far.

    It knows each dialogue's reference replies by the exact sequence of user turns leading to them (and
    each single-turn item's by its prompt). Shown one turn alone, it cannot tell which dialogue it is in
    unless that turn opens one, and answers generically — as a model without the history would have to.
    """

    has_adapter = False

    def __init__(self, items: list[Item]) -> None:
        self.known: dict[tuple[str, ...], str] = {}
        for it in items:
            if it.turn_checks:
                for t in range(len(it.turns)):
                    if it.references[t] is not None:
                        self.known[tuple(it.turns[: t + 1])] = it.references[t]
            elif it.reference is not None:
                self.known.setdefault(tuple(it.turns), it.reference)

    def generate(self, convs: list[list[dict]], tools: list, use_adapter: bool) -> list[str]:
        return [
            self.known.get(tuple(m["content"] for m in c if m["role"] == "user"), "Could you tell me more?")
            for c in convs
        ]
