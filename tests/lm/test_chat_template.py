"""`model.chat_template`: base models without a template train with ChatML (or a Jinja file), and every
adapter folder carries the tokenizer with the template it was trained with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from transformers import AutoTokenizer

from emergent.config import load_config
from emergent.errors import ConfigError
from emergent.lm.chat_template import CHATML
from emergent.lm.config import ModelConfig
from emergent.lm.loading import load_tokenizer
from emergent.lm.render import encode, render
from emergent.schema import make_conversation, tool_call
from emergent.train.trainer import train
from train.conftest import config_dict, write_phases

CONV = {
    "_id": "x",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye?"},
        {"role": "assistant", "content": "Bye."},
    ],
    "tools": None,
}


@pytest.fixture(scope="module")
def base_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model as a base model ships it: no chat template, <|endoftext|> as end of sequence."""
    target = tmp_path_factory.mktemp("base-model")
    shutil.copytree(tiny_model_dir, target, dirs_exist_ok=True)
    (target / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((target / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    config.update(eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    (target / "tokenizer_config.json").write_text(json.dumps(config))
    assert not AutoTokenizer.from_pretrained(target).chat_template
    return target


def test_a_model_without_template_names_the_setting(base_model_dir):
    with pytest.raises(ValueError, match="no chat template.*model.chat_template: chatml"):
        load_tokenizer(ModelConfig(name=str(base_model_dir)))


def test_chatml_marks_each_assistant_turn_with_its_end_and_the_eos(base_model_dir):
    tokenizer = load_tokenizer(ModelConfig(name=str(base_model_dir), chat_template="chatml"))
    r = render(CONV, tokenizer)
    assert r.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|><|endoftext|>\n<|im_start|>user\nBye?<|im_end|>\n"
        "<|im_start|>assistant\nBye.<|im_end|><|endoftext|>\n"
    )
    assert [r.text[a:b] for a, b in r.spans] == ["Hello.<|im_end|><|endoftext|>\n", "Bye.<|im_end|><|endoftext|>\n"]
    ex = encode(CONV, tokenizer)
    eos_positions = [i for i, t in enumerate(ex.input_ids) if t == tokenizer.eos_token_id]
    assert len(eos_positions) == 2 and all(ex.labels[i] for i in eos_positions)  # the model learns to stop
    # A ChatML-native vocabulary ends turns with <|im_end|> alone, never twice.
    native = load_tokenizer(ModelConfig(name=str(base_model_dir), chat_template="chatml"))
    native.eos_token = "<|im_end|>"
    assert "<|im_end|><|im_end|>" not in render(CONV, native).text


def test_chatml_gets_tools_as_hermes_text_with_the_name_before_the_arguments(base_model_dir):
    tokenizer = load_tokenizer(ModelConfig(name=str(base_model_dir), chat_template="chatml"))
    weather = {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {}}}
    conv = make_conversation(
        [
            {"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call("get_weather", {"city": "Paris"})]},
            {"role": "tool", "content": '{"temp_c": 21}', "tool_call_id": "call_0", "name": "get_weather"},
            {"role": "assistant", "content": "21 degrees."},
        ],
        source="s",
        origin="o",
        tools=[weather],
    )
    r = render(conv, tokenizer)
    assert "<tools>\n" + json.dumps({"type": "function", "function": weather}) + "\n</tools>" in r.text
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert [r.text[a:b] for a, b in r.spans] == [
        f"{call}<|im_end|><|endoftext|>\n",
        "21 degrees.<|im_end|><|endoftext|>\n",
    ]
    assert '<|im_start|>tool\n<tool_response>\n{"temp_c": 21}\n</tool_response><|im_end|>\n' in r.text


def test_a_jinja_file_relative_to_the_config_and_a_missing_one(base_model_dir, tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "plain.jinja").write_text(
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    raw = {"model": {"name": str(base_model_dir), "chat_template": "templates/plain.jinja"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.model.chat_template == str(tmp_path / "templates" / "plain.jinja")
    assert render(CONV, load_tokenizer(cfg.model)).text.startswith("system: Be brief.\nuser: Hi?\nassistant: Hello.")
    raw["model"]["chat_template"] = "templates/nope.jinja"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"model\.chat_template: 'templates/nope.jinja' is neither a built-in"):
        load_config(tmp_path / "c.yaml")


def test_training_a_base_model_saves_the_template_with_every_adapter(base_model_dir, tmp_path):
    from emergent.config import parse_config

    raw = config_dict(base_model_dir, tmp_path, max_steps_per_phase=1)
    raw["model"]["chat_template"] = "chatml"
    data = write_phases(tmp_path / "data", per_phase=4)
    summary = train(parse_config(raw, tmp_path / "c.yaml"), data, tmp_path / "out", show_progress=False)
    assert summary["total_steps"] == 5
    for folder in [tmp_path / "out" / "adapter", *(tmp_path / "out" / "phases").glob("*/adapter")]:
        assert AutoTokenizer.from_pretrained(folder).chat_template == CHATML, folder
    # Export, evaluation and the preview render with the template the adapter was trained with.
    from typer.testing import CliRunner

    from emergent.cli import app
    from emergent.lm.config import DecodingConfig
    from emergent.lm.generation import LocalGenerator

    merged = tmp_path / "merged"
    result = CliRunner().invoke(app, ["export", str(tmp_path / "out" / "adapter"), "--merge", "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert AutoTokenizer.from_pretrained(merged).chat_template == CHATML
    decoding = DecodingConfig(max_new_tokens=4)
    gen = LocalGenerator(str(base_model_dir), tmp_path / "out" / "adapter", decoding, 2, "cpu", chat_template="chatml")
    assert gen.render(CONV["messages"][:2], None) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"
    )
    with pytest.raises(ValueError, match="model.chat_template: chatml"):
        LocalGenerator(str(base_model_dir), None, decoding, 2, "cpu")
    phase = tmp_path / "data" / "phases" / "phase1_foundation.parquet"
    args = ["data", "preview", str(phase), "-n", "1", "--rendered", "--model", str(base_model_dir)]
    shown = CliRunner().invoke(app, [*args, "--chat-template", "chatml"])
    assert shown.exit_code == 0 and "<|im_start|>assistant" in shown.output, shown.output
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "no chat template" in refused.output
