"""Generation for the suite: batched, KV-cached, greedy by default; local transformers (+ peft) or an endpoint.

Base and adapter share one loaded model: the adapter is switched off with peft's `disable_adapter()`
for the base pass, so the chat template, tokenizer and decoding are identical by construction.
Dialogues are generated turn by turn (each turn sees the model's own earlier answers), batched
across dialogues at the same turn.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from emergent.evaluate.config import DecodingConfig, EndpointConfig
from emergent.evaluate.http import api_key, chat_completion, message_text
from emergent.evaluate.suite import Item
from emergent.lm.adapter import adapter_on
from emergent.schema import openai_tools

Messages = list[dict[str, Any]]


class LocalGenerator:
    """A transformers causal LM, optionally with a LoRA adapter that can be switched off."""

    def __init__(
        self,
        model_path: str,
        adapter: Path | None,
        decoding: DecodingConfig,
        batch_size: int,
        device: str = "auto",
        trust_remote_code: bool = False,
        precision: str = "auto",
        chat_template: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from emergent.lm.chat_template import apply_chat_template_setting
        from emergent.lm.loading import inference_dtype

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        # auto: bf16 where the hardware multiplies it natively (GPUs, AVX512-BF16/AMX CPUs: generation
        # 1.5x faster than fp32 on this EPYC), else fp32. Base and adapter always share one precision.
        dtype, warning = inference_dtype(precision, torch.device(device), "eval.precision")
        if warning:
            warnings.warn(warning, RuntimeWarning, stacklevel=2)
        self.tokenizer = apply_chat_template_setting(
            AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code), chat_template, model_path
        )
        self.tokenizer.padding_side = "left"  # generation appends on the right
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, trust_remote_code=trust_remote_code)
        if adapter is not None:
            from peft import PeftModel

            if not (Path(adapter) / "adapter_config.json").is_file():
                raise FileNotFoundError(
                    f"{adapter}: no adapter_config.json — pass the adapter/ folder written by `emergent train`"
                )
            with warnings.catch_warnings():
                # peft reads transformers' deprecated `is_gradient_checkpointing`; not ours to fix, not the user's.
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
                model = PeftModel.from_pretrained(model, str(adapter))
        self.model = model.to(device).eval()
        self.has_adapter = adapter is not None
        self.decoding = decoding
        self.batch_size = batch_size
        self.precision = str(dtype).removeprefix("torch.")

    def render(self, messages: Messages, tools: list[dict] | None) -> str:
        """The prompt exactly as training renders it: tools natively, else as JSON text (lm/render.py)."""
        from emergent.lm.render import has_tool_support, tools_as_text

        tools = openai_tools(tools)  # the shape training renders (schema.py), whatever the suite file holds
        if tools and not has_tool_support(self.tokenizer):
            messages, tools = tools_as_text(messages, tools), None
        kwargs: dict[str, Any] = {"tools": tools} if tools else {}
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs)

    @contextlib.contextmanager
    def _merged(self, use_adapter: bool) -> Iterator[None]:
        """Generate with the LoRA weights folded into the base weights, then put the base weights back
        bit for bit. Unmerged, every projection runs two more small matmuls and PEFT's per-call Python
        (measured: bench/RESULTS.md, "Generation with the adapter"). Subtracting the delta again would
        leave rounding in bf16 base weights, so the originals are kept and copied back instead."""
        import torch

        if not (use_adapter and self.has_adapter):
            yield
            return
        from peft.tuners.lora import LoraLayer

        layers = [m for m in self.model.modules() if isinstance(m, LoraLayer)]
        saved = [m.get_base_layer().weight.detach().clone() for m in layers]
        with torch.no_grad():
            self.model.merge_adapter()
            try:
                yield
            finally:
                self.model.unmerge_adapter()
                for m, w in zip(layers, saved, strict=True):
                    m.get_base_layer().weight.copy_(w)

    def generate(self, convs: list[Messages], tools: list[list[dict] | None], use_adapter: bool) -> list[str]:
        import torch

        texts = [self.render(m, t) for m, t in zip(convs, tools, strict=True)]
        # Longest first in similar-length batches: less padding, and out-of-memory shows up at once.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = [""] * len(texts)
        d = self.decoding
        kwargs: dict[str, Any] = {
            "max_new_tokens": d.max_new_tokens,
            "do_sample": d.do_sample,
            "repetition_penalty": d.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id,
            "use_cache": True,
        }
        if d.do_sample:
            kwargs.update(temperature=d.temperature, top_p=d.top_p)
        else:  # silence generation_config sampling defaults that greedy ignores
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with adapter_on(self.model, use_adapter), self._merged(use_adapter), torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
                ).to(self.device)
                torch.manual_seed(d.seed)
                gen = self.model.generate(**enc, **kwargs)
                new = gen[:, enc["input_ids"].shape[1] :]
                for i, row in zip(idx, new, strict=True):
                    out[i] = self.tokenizer.decode(row, skip_special_tokens=True).strip()
        return out


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
