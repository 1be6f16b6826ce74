"""Local generation with transformers (+ peft): batched, KV-cached, greedy by default. The evaluation's
local generator, and the base model's replies for training.replay.

Base and adapter share one loaded model: the adapter is switched off with peft's `disable_adapter()`
for the base pass, so the chat template, tokenizer and decoding are identical by construction.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.lm.adapter import adapter_on
from emergent.lm.config import DecodingConfig
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
        return [text for text, _ in self.generate_ended(convs, tools, use_adapter)]

    def generate_ended(
        self, convs: list[Messages], tools: list[list[dict] | None], use_adapter: bool
    ) -> list[tuple[str, bool]]:
        """Each reply with whether it ended (an end-of-sequence token within max_new_tokens) or was cut."""
        import torch

        texts = [self.render(m, t) for m, t in zip(convs, tools, strict=True)]
        # Longest first in similar-length batches: less padding, and out-of-memory shows up at once.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[tuple[str, bool]] = [("", False)] * len(texts)
        d = self.decoding
        stops = self.model.generation_config.eos_token_id
        stops = {stops} if isinstance(stops, int) else set(stops or [self.tokenizer.eos_token_id])
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
                    ended = any(int(t) in stops for t in row)
                    out[i] = (self.tokenizer.decode(row, skip_special_tokens=True).strip(), ended)
        return out
