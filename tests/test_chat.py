"""`emergent chat`: streaming multi-turn replies, /base switches the adapter off, /reset, /exit — on a tiny
random Llama with a LoRA adapter whose weights are not zero (so adapter and base really answer differently)."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emergent.chat import ChatSession, base_model_name, chat_loop, load_chat_model
from emergent.cli import app


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, make_tiny_adapter) -> Path:
    out = make_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter"), ["q_proj", "v_proj", "down_proj"])
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(tiny_model_dir)
    return out


def test_base_toggle_matches_the_plain_base_model(adapter_dir: Path, tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = load_chat_model(adapter_dir)
    session = ChatSession(model, tok, max_new_tokens=12)
    pieces: list[str] = []
    adapter_answer = session.reply("How do I reverse a list in Python?", pieces.append)
    assert len(pieces) > 1 and "".join(pieces).strip() == adapter_answer  # streamed, not printed at once
    assert [m["role"] for m in session.messages] == ["user", "assistant"]

    session.messages.clear()
    session.use_base = True
    base_answer = session.reply("How do I reverse a list in Python?", lambda s: None)

    # In the chat's precision (bf16 on CPUs with native bf16), so greedy texts are comparable.
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=next(model.parameters()).dtype).eval()
    ptok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = ptok.apply_chat_template(
        [{"role": "user", "content": "How do I reverse a list in Python?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        gen = plain.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=ptok.pad_token_id)
    expected = ptok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    assert base_answer == expected
    assert adapter_answer != base_answer

    # multi-turn: the second question is answered with the first exchange in context
    session.reply("And a tuple?", lambda s: None)
    assert len(session.messages) == 4


def test_loop_commands(adapter_dir: Path) -> None:
    model, tok = load_chat_model(adapter_dir)
    session = ChatSession(model, tok, max_new_tokens=4)
    out = io.StringIO()
    chat_loop(session, io.StringIO("hello\n/base\nhello\n/reset\n/nope\n/exit\nnever read\n"), out)
    text = out.getvalue()
    assert "adapter> " in text and "base> " in text
    assert "(now talking to the base model" in text and "(conversation reset)" in text
    assert "unknown command /nope" in text and text.rstrip().endswith("bye")
    assert session.messages == []


def test_missing_adapter_config_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="adapter_config.json: not found"):
        base_model_name(tmp_path)
    assert base_model_name(tmp_path, "some/model") == "some/model"
    result = CliRunner().invoke(app, ["chat", str(tmp_path)])
    assert result.exit_code == 2 and "must be a peft adapter folder" in result.output


class Terminal:
    """A child process on a pseudo-terminal, driven like a user typing (stdlib pty, no pexpect needed)."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "120"}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 240.0) -> str:
        """Read until `text` appears after what earlier expects consumed; return what came before it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                raise AssertionError(f"waited for {text!r}; terminal shows:\n{self.seen[-3000:]}")
            if select.select([self.master], [], [], min(left, 1.0))[0]:
                try:
                    self.seen += os.read(self.master, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    pass
        before, _, self.seen = self.seen.partition(text)
        return before

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())


@pytest.mark.slow
def test_chat_command_in_a_terminal(adapter_dir: Path) -> None:
    """The real command on a pseudo-terminal: message, /base, message, /reset, /exit."""
    emergent = Path(sys.executable).with_name("emergent")
    term = Terminal([str(emergent), "chat", str(adapter_dir), "--max-new-tokens", "6"])
    try:
        term.expect("commands: /base")
        term.expect("you> ")
        term.send("Tell me a story")
        term.expect("adapter> ")
        adapter_reply = term.expect("you> ").strip()
        assert adapter_reply, "the adapter streamed nothing"
        term.send("/base")
        term.expect("(now talking to the base model")
        term.expect("you> ")
        term.send("Tell me a story")
        term.expect("base> ")
        term.expect("you> ")
        term.send("/reset")
        term.expect("(conversation reset)")
        term.expect("you> ")
        term.send("/exit")
        term.expect("bye")
        assert term.proc.wait(timeout=60) == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
        os.close(term.master)


def test_an_adapter_names_a_portable_base_and_emergent_loads_the_one_it_was_trained_on(tmp_path):
    """adapter_config.json names the public hub id (portable); emergent_base.json keeps the model.name
    training used, so chat and export load the exact weights even where the hub is unreachable."""
    from emergent.lm.registry import EMBEDDED_DEFAULT, EMBEDDED_UPSTREAM, adapter_base, public_id, write_trained_on

    assert public_id(EMBEDDED_DEFAULT) == EMBEDDED_UPSTREAM
    assert public_id("Qwen/Qwen3-0.6B") == "Qwen/Qwen3-0.6B"
    assert public_id(str(tmp_path)) == str(tmp_path.resolve())
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": EMBEDDED_UPSTREAM}))
    assert adapter_base(tmp_path) == EMBEDDED_UPSTREAM  # a folder made elsewhere: its config decides
    write_trained_on(tmp_path, EMBEDDED_DEFAULT)
    assert adapter_base(tmp_path) == EMBEDDED_DEFAULT
    assert "de-quantised" in json.loads((tmp_path / "emergent_base.json").read_text())["weights"]


def test_add_adapter_records_the_public_id_of_the_embedded_default(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from emergent.lm.registry import EMBEDDED_DEFAULT, EMBEDDED_UPSTREAM
    from emergent.train.adapter import add_adapter
    from emergent.train.config import PeftSettings

    model = add_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir), PeftSettings(r=2), EMBEDDED_DEFAULT)
    assert model.peft_config["default"].base_model_name_or_path == EMBEDDED_UPSTREAM


def test_saving_an_adapter_on_a_hub_base_makes_no_hub_lookup(tiny_model_dir, tmp_path):
    """The adapter names the hub id of the embedded default; writing it must not try the network."""
    import warnings

    from peft import get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    from emergent.lm.registry import EMBEDDED_DEFAULT
    from emergent.train.adapter import add_adapter, save_adapter, saves_embeddings
    from emergent.train.config import PeftSettings

    model = add_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir), PeftSettings(r=2), EMBEDDED_DEFAULT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights = get_peft_model_state_dict(model, save_embedding_layers=saves_embeddings(model))
        save_adapter(model, tmp_path / "adapter", weights)
    assert not [w for w in caught if "remote file" in str(w.message) or "Could not find a config" in str(w.message)]
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
