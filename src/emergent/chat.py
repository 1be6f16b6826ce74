"""`emergent chat ADAPTER_DIR`: talk to the adapter in the terminal, streaming, with /base to compare.

/base toggles the base model through peft's `disable_adapter()`, so both answers come from the same
weights in memory with the same chat template and decoding; only the adapter differs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TextIO

HELP = "commands: /base toggles base model ↔ adapter, /reset starts a new conversation, /exit quits"


def base_model_name(adapter_dir: Path, override: str | None = None) -> str:
    """The base model: --model if given, else the one the adapter was trained on (lm.registry.adapter_base)."""
    from emergent.lm.registry import adapter_base

    return override or adapter_base(adapter_dir)


def load_chat_model(adapter_dir: Path, model: str | None = None) -> tuple[Any, Any]:
    """(PeftModel in eval mode, tokenizer); the tokenizer comes from the adapter folder when saved there.

    bf16 where the hardware multiplies it natively (GPUs, AVX512-BF16/AMX CPUs), else fp32, as in training.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emergent.lm.loading import inference_dtype
    from emergent.lm.registry import EMBEDDED_DEFAULT, resolve_model_path

    name = base_model_name(adapter_dir, model)
    # An adapter trained on the embedded default records the cache path of the machine it was trained on.
    if not Path(name).exists() and name.rstrip("/").endswith(f"models/{EMBEDDED_DEFAULT}"):
        name = EMBEDDED_DEFAULT
    base_path = resolve_model_path(name)
    tok_src = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base_path
    tokenizer = AutoTokenizer.from_pretrained(str(tok_src))
    dtype, _ = inference_dtype("auto", torch.device("cuda" if torch.cuda.is_available() else "cpu"), "chat")
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    peft_model = PeftModel.from_pretrained(base, str(adapter_dir))
    if torch.cuda.is_available():
        peft_model = peft_model.to("cuda")
    peft_model.eval()
    return peft_model, tokenizer


class ChatSession:
    """A multi-turn conversation with one model; `use_base` switches the adapter off for the next replies."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 256, temperature: float = 0.0) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.messages: list[dict[str, str]] = []
        self.use_base = False

    def _prompt_ids(self) -> Any:
        limit = getattr(self.model.config, "max_position_embeddings", 2048) - self.max_new_tokens
        while True:
            ids = self.tokenizer.apply_chat_template(
                self.messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            # Drop the oldest exchange rather than fail when the conversation outgrows the context window.
            if ids["input_ids"].shape[-1] <= limit or len(self.messages) <= 1:
                return ids
            self.messages = self.messages[2:]

    def reply(self, text: str, write: Callable[[str], None]) -> str:
        """Add the user's turn, stream the answer through `write`, keep it in the history, return it."""
        import torch
        from transformers import TextIteratorStreamer

        self.messages.append({"role": "user", "content": text})
        inputs = {k: v.to(self.model.device) for k, v in self._prompt_ids().items()}
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        sample = self.temperature > 0
        kwargs = dict(
            **inputs,
            streamer=streamer,
            max_new_tokens=self.max_new_tokens,
            do_sample=sample,
            pad_token_id=self.tokenizer.eos_token_id
            if self.tokenizer.pad_token_id is None
            else self.tokenizer.pad_token_id,
        )
        if sample:
            kwargs["temperature"] = self.temperature
        errors: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.no_grad(), self.model.disable_adapter() if self.use_base else nullcontext():
                    self.model.generate(**kwargs)
            except BaseException as err:  # surfaced in the main thread below
                errors.append(err)
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        chunks = []
        for chunk in streamer:
            chunks.append(chunk)
            write(chunk)
        worker.join()
        if errors:
            self.messages.pop()
            raise errors[0]
        answer = "".join(chunks).strip()
        self.messages.append({"role": "assistant", "content": answer})
        return answer


def chat_loop(session: ChatSession, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read lines until /exit or end of input; commands start with '/'."""

    def write(s: str) -> None:
        stdout.write(s)
        stdout.flush()

    interactive = stdin is sys.stdin and stdin.isatty()
    if interactive:
        import readline  # noqa: F401 — gives input() line editing and history

    def read_line() -> str | None:
        if interactive:
            try:
                return input("\nyou> ") + "\n"
            except EOFError:
                return None
        write("\nyou> ")
        return stdin.readline() or None

    write(f"{HELP}\n")
    while True:
        line = read_line()
        if line is None:
            write("\n")
            return
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            write("bye\n")
            return
        if text == "/reset":
            session.messages.clear()
            write("(conversation reset)\n")
            continue
        if text == "/base":
            session.use_base = not session.use_base
            write(f"(now talking to the {'base model' if session.use_base else 'adapter'}; /base toggles)\n")
            continue
        if text.startswith("/"):
            write(f"(unknown command {text}; {HELP})\n")
            continue
        write(f"{'base' if session.use_base else 'adapter'}> ")
        session.reply(text, write)
        write("\n")
