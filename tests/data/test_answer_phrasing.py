"""How the question-answering readers phrase the answer: GSM8K's closing line (`options.closing`),
NQ-Open's sentence (`options.phrasing`), and the load-time check that a source names only options its
format reads."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from emergent.config import parse_config
from emergent.data.formats import gsm8k, nq_open
from emergent.data.ingest import IngestStream
from emergent.errors import ConfigError
from emergent.evaluate.checks.text import final_number


def _ingest(shared_data: Path, options: dict, fmt: str = "gsm8k", path: str = "gsm8k/train.jsonl") -> list[dict]:
    source = {"name": fmt, "format": fmt, "path": str(shared_data / path), "options": options}
    cfg = parse_config({"sources": [source]}, shared_data / "config.yaml")
    stream = IngestStream(cfg.sources, cfg.ingest, lambda q: pytest.fail(f"quarantined: {q}"))
    return list(stream)


def _finals(shared_data: Path) -> list[str]:
    with open(shared_data / "gsm8k/train.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["answer"].split("####")[-1].strip() for line in fh]


def _last_line(conv: dict) -> str:
    return conv["messages"][-1]["content"].splitlines()[-1]


def test_varied_closings_spread_and_still_end_on_the_answer(shared_data: Path) -> None:
    fixed = _ingest(shared_data, {})
    varied = _ingest(shared_data, {"closing": "varied"})
    finals = _finals(shared_data)
    assert len(fixed) == len(varied) == len(finals)
    assert all(_last_line(c) == f"The answer is {n}." for c, n in zip(fixed, finals, strict=True))

    styles: Counter[str] = Counter()
    for conv, fixed_conv, n in zip(varied, fixed, finals, strict=True):
        reply = conv["messages"][-1]["content"]
        assert conv["messages"][0] == fixed_conv["messages"][0]  # only the reply's last line differs
        assert final_number(reply, n).passed, reply  # the evaluation's own answer check reads every one
        last = _last_line(conv)
        style = next((c for c in gsm8k.VARIED_CLOSINGS if c and last == c.format(n=n)), "reasoning only")
        styles[style] += 1
        if style == "reasoning only":
            assert reply == fixed_conv["messages"][-1]["content"].rsplit("\n", 1)[0]
    assert len(styles) == len(gsm8k.VARIED_CLOSINGS)
    # No phrasing carries more than a quarter of the replies (fixed: all of them).
    assert max(styles.values()) < len(varied) / 4, styles


def test_reasoning_only_needs_the_answer_as_its_last_number() -> None:
    # A hash that picks the empty closing for a reasoning that ends elsewhere falls back to a stated line.
    key = next(k for k in (f"q{i}" for i in range(200)) if gsm8k.pick(gsm8k.VARIED_CLOSINGS, k) == "")
    ends_on_answer = gsm8k.solution_text("She has 3 + 4 = 7 apples.\n#### 7", closing="varied", key=key)
    ends_elsewhere = gsm8k.solution_text("She had 7 apples after 3 days.\n#### 7", closing="varied", key=key)
    assert ends_on_answer == "She has 3 + 4 = 7 apples."
    assert ends_elsewhere == "She had 7 apples after 3 days.\nSo the answer is 7."


def test_plain_closing_never_announces_the_answer(shared_data: Path) -> None:
    fixed = _ingest(shared_data, {})
    plain = _ingest(shared_data, {"closing": "plain"})
    finals = _finals(shared_data)
    assert len(plain) == len(finals)
    stated = 0
    for conv, fixed_conv, n in zip(plain, fixed, finals, strict=True):
        reply = conv["messages"][-1]["content"]
        reasoning = fixed_conv["messages"][-1]["content"].rsplit("\n", 1)[0]
        assert final_number(reply, n).passed, reply
        if reply != reasoning:
            assert reply == f"{reasoning}\nThat gives {n}.", reply
            stated += 1
    # 95 % of the reasonings already end on the answer; the rest state it without "the answer is".
    assert 0 < stated < len(plain) / 10
    # What remains is the solvers' own words (4 of 7,473 reasonings say "the answer is"); fixed: all of them.
    assert sum("answer is" in c["messages"][-1]["content"].lower() for c in plain) <= 4


def test_nq_open_bare_answers_alone(shared_data: Path) -> None:
    args = ("nq_open", "nq-open/NQ-open.dev.jsonl")
    varied = _ingest(shared_data, {}, *args)
    bare = _ingest(shared_data, {"phrasing": "bare"}, *args)
    assert len(varied) == len(bare) > 3000
    announced = sum(c["messages"][-1]["content"].startswith(("The answer is", "The short answer is")) for c in varied)
    assert 0.4 < announced / len(varied) < 0.6  # the default: half announce the answer
    with open(shared_data / "nq-open/NQ-open.dev.jsonl", encoding="utf-8") as fh:
        firsts = [json.loads(line)["answer"][0] for line in fh]
    for conv, fixed_conv, first in zip(bare, varied, firsts, strict=True):
        assert conv["messages"][0] == fixed_conv["messages"][0]
        answer = " ".join(first.replace("\xa0", " ").split()).rstrip(".")
        assert conv["messages"][-1]["content"] == f"{answer[0].upper()}{answer[1:]}."
    assert nq_open.PHRASINGS["varied"][1] == nq_open.PHRASINGS["bare"][0]  # bare is one of varied's phrasings


def test_bad_closing_and_unknown_options_fail_at_load(shared_data: Path) -> None:
    with pytest.raises(ConfigError, match=r"options.closing must be one of fixed, varied, plain, got 'random'"):
        _ingest(shared_data, {"closing": "random"})
    with pytest.raises(ConfigError, match=r"format 'gsm8k' has no option\(s\) \['closng'\]; it takes closing"):
        parse_config(
            {"sources": [{"name": "g", "format": "gsm8k", "path": "x.jsonl", "options": {"closng": "varied"}}]},
            shared_data / "config.yaml",
        )
    with pytest.raises(ConfigError, match=r"options.harm_check must be one of strict, lenient, off, got 'maybe'"):
        parse_config(
            {"sources": [{"name": "h", "format": "hh_rlhf", "path": "x.jsonl", "options": {"harm_check": "maybe"}}]},
            shared_data / "config.yaml",
        )
    with pytest.raises(ConfigError, match=r"options.phrasing must be one of varied, bare, got 'short'"):
        _ingest(shared_data, {"phrasing": "short"}, "nq_open", "nq-open/NQ-open.dev.jsonl")
    with pytest.raises(ConfigError, match=r"format 'nq_open' has no option\(s\) \['closing'\]; it takes phrasing"):
        parse_config(
            {"sources": [{"name": "n", "format": "nq_open", "path": "x.jsonl", "options": {"closing": "varied"}}]},
            shared_data / "config.yaml",
        )
