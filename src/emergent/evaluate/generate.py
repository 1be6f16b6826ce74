"""Generation for the suite: batched, KV-cached, greedy by default; local transformers (+ peft) or an endpoint.

Base and adapter share one loaded model: the adapter is switched off with peft's `disable_adapter()`
for the base pass, so the chat template, tokenizer and decoding are identical by construction.
Dialogues are generated turn by turn (each turn sees the model's own earlier answers), batched
across dialogues at the same turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emergent.evaluate.config import DecodingConfig, EndpointConfig
from emergent.evaluate.http import api_key, chat_completion, message_text
from emergent.evaluate.suite import Item
from emergent.lm.generation import LocalGenerator, Messages
from emergent.schema import openai_tools


class EndpointGenerator:
    """An OpenAI-compatible server (vLLM, TGI, llama.cpp server); the adapter is a served model name."""

    def __init__(self, cfg: EndpointConfig, decoding: DecodingConfig) -> None:
        if not cfg.base_url:
            raise ValueError("eval.endpoint.base_url is empty — set it to e.g. http://127.0.0.1:8000/v1")
        self.cfg = cfg
        self.decoding = decoding
        self.key = api_key(cfg.api_key_env)
        self.has_adapter = bool(cfg.adapter_model)
        self.device = f"endpoint {cfg.base_url}"
        self.precision = "server"

    def _one(self, messages: Messages, tools: list[dict] | None, model: str) -> str:
        d = self.decoding
        payload: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": d.max_new_tokens,
            "temperature": d.temperature if d.do_sample else 0.0,
            "top_p": d.top_p if d.do_sample else 1.0,
            "seed": d.seed,
        }
        if tools:
            payload["tools"] = openai_tools(tools)
        return message_text(chat_completion(self.cfg.base_url or "", payload, self.key, self.cfg.timeout_s)).strip()

    def generate(self, convs: list[Messages], tools: list[list[dict] | None], use_adapter: bool) -> list[str]:
        model = self.cfg.adapter_model if use_adapter else self.cfg.model
        with ThreadPoolExecutor(self.cfg.concurrency) as pool:
            return list(pool.map(lambda mt: self._one(mt[0], mt[1], model), zip(convs, tools, strict=True)))


def generate_distinct(
    generator: LocalGenerator | EndpointGenerator,
    convs: list[Messages],
    tools: list[list[dict] | None],
    use_adapter: bool,
) -> list[str]:
    """Replies to `convs`, each distinct (conversation, tools) generated once when decoding is greedy.

    The suite asks some openings more than once (a dialogue's first turn is often a single prompt of its
    own: 135 of the full suite's 877 first turns), and greedy decoding gives one input one reply, so the
    repeats cost nothing. Sampled decoding generates every conversation: two samples are two answers.
    """
    if getattr(getattr(generator, "decoding", None), "do_sample", False):
        return generator.generate(convs, tools, use_adapter)
    slot_of: dict[str, int] = {}  # a conversation's JSON -> its position among the distinct ones
    rows: list[int] = []  # the first conversation of each distinct one
    slots: list[int] = []
    for i, (c, t) in enumerate(zip(convs, tools, strict=True)):
        key = json.dumps([c, t], sort_keys=True)
        if key not in slot_of:
            slot_of[key] = len(rows)
            rows.append(i)
        slots.append(slot_of[key])
    answers = generator.generate([convs[i] for i in rows], [tools[i] for i in rows], use_adapter)
    return [answers[s] for s in slots]


def run_items(
    generator: LocalGenerator | EndpointGenerator,
    items: list[Item],
    use_adapter: bool,
    on_turns: Callable[[int], None] = lambda n: None,
    *,
    system_prompt: str | None = None,
    history: bool = True,
) -> dict[str, list[str]]:
    """{item id: [assistant reply per user turn]}; turn t of every dialogue is generated in one batch.

    `system_prompt` opens every conversation (the `prompted` side: the base model asked to adapt its tone);
    `history=False` answers each user turn alone (the no-history control for multi-turn checks).
    """
    opening: Messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    past: dict[str, Messages] = {it.id: [] for it in items}
    replies: dict[str, list[str]] = {it.id: [] for it in items}
    for t in range(max((len(it.turns) for it in items), default=0)):
        active = [it for it in items if len(it.turns) > t]
        asked = {it.id: {"role": "user", "content": it.turns[t]} for it in active}
        conversations = [opening + (past[it.id] if history else []) + [asked[it.id]] for it in active]
        answers = generate_distinct(generator, conversations, [it.tools for it in active], use_adapter)
        for it, a in zip(active, answers, strict=True):
            past[it.id] += [asked[it.id], {"role": "assistant", "content": a}]
            replies[it.id].append(a)
        on_turns(len(active))
    return replies
