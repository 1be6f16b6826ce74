"""The category classifier: trained on real labelled corpora, honest held-out accuracy, shipped model, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from emergent.config import parse_config
from emergent.curate.classifier import (
    DEFAULT_MODEL,
    Classifier,
    FeatureSettings,
    balanced_sample,
    evaluate,
    labelled_examples,
    load_classifier_config,
    load_default_classifier,
    split_roles,
    stratified_split,
)
from emergent.errors import ConfigError
from emergent.schema import conversation_text, make_conversation, tool_call

ROOT = Path(__file__).resolve().parents[2]


def _small_sources(data: Path) -> list[dict]:
    """Four single-category real corpora, a few hundred examples each."""
    return [
        {"name": "gsm8k", "format": "gsm8k", "path": str(data / "gsm8k/train.jsonl"), "max_examples": 300},
        {
            "name": "counsel_chat",
            "format": "counsel_chat",
            "path": str(data / "counsel-chat/20200325_counsel_chat.csv"),
            "max_examples": 300,
        },
        {
            "name": "codealpaca",
            "format": "code_alpaca",
            "path": str(data / "codealpaca/code_alpaca_2k.json"),
            "max_examples": 300,
        },
        {"name": "nq_open", "format": "nq_open", "path": str(data / "nq-open/NQ-open.dev.jsonl"), "max_examples": 300},
        {"name": "mbpp", "format": "mbpp", "path": str(data / "mbpp/mbpp.jsonl"), "max_examples": 150},
    ]


@pytest.fixture(scope="module")
def small_set(shared_data: Path) -> tuple[list[dict], list[dict]]:
    cfg = parse_config({"sources": _small_sources(shared_data)}, shared_data / "x.yaml")
    examples, stats = labelled_examples(cfg)
    assert stats["gsm8k"]["accepted"] == 300
    return stratified_split(balanced_sample(examples, 300, seed=0), 0.25, seed=0)


@pytest.fixture(scope="module")
def small_model(small_set: tuple[list[dict], list[dict]]) -> Classifier:
    train, _ = small_set
    settings = FeatureSettings(n_features_log2=15)  # small and fast; the shipped model uses 2^17
    return Classifier.train([e["text"] for e in train], [e["label"] for e in train], seed=0, settings=settings)


def test_held_out_accuracy_is_well_above_chance(small_set, small_model: Classifier) -> None:
    _, held = small_set
    report = evaluate(small_model, [e["text"] for e in held], [e["label"] for e in held])
    assert set(report["labels"]) == {"analytical", "empathetic", "technical", "factual"}
    assert report["accuracy"] > 0.85  # chance is 0.25
    for label, m in report["per_class"].items():
        assert m["recall"] > 0.6, (label, m)
    assert np.asarray(report["confusion"]).sum() == len(held)


def test_save_load_round_trip_gives_identical_predictions(small_set, small_model: Classifier, tmp_path: Path) -> None:
    _, held = small_set
    texts = [e["text"] for e in held]
    path = small_model.save(tmp_path / "model.npz")
    loaded = Classifier.load(path)
    assert loaded.labels == small_model.labels
    assert [c for c, _ in loaded.predict(texts)] == [c for c, _ in small_model.predict(texts)]
    # Weights are stored as float16: probabilities may move in the third decimal, never more.
    assert np.abs(loaded.probabilities(texts) - small_model.probabilities(texts)).max() < 5e-3


def test_training_is_deterministic_given_the_seed(small_set) -> None:
    train, _ = small_set
    few = train[::5]  # every category, a few dozen each
    texts, labels = [e["text"] for e in few], [e["label"] for e in few]
    small = FeatureSettings(n_features_log2=14)
    a = Classifier.train(texts, labels, seed=3, settings=small)
    b = Classifier.train(texts, labels, seed=3, settings=small)
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)


def test_balanced_sample_caps_each_class_and_shares_between_sources() -> None:
    examples = [{"text": f"a{i}", "label": "x", "source": "big"} for i in range(1000)]
    examples += [{"text": f"b{i}", "label": "x", "source": "small"} for i in range(30)]
    examples += [{"text": f"c{i}", "label": "y", "source": "other"} for i in range(50)]
    sample = balanced_sample(examples, 100, seed=0)
    by = {
        (s, lab): sum(1 for e in sample if e["source"] == s and e["label"] == lab)
        for s, lab in [("big", "x"), ("small", "x"), ("other", "y")]
    }
    assert by == {("big", "x"): 70, ("small", "x"): 30, ("other", "y"): 50}
    assert sample == balanced_sample(examples, 100, seed=0)


def test_split_roles_separates_request_answer_and_tool_calls() -> None:
    conv = make_conversation(
        [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call("get_weather", {"city": "Paris"})]},
            {"role": "tool", "content": '{"temp": 12}', "tool_call_id": "call_0"},
            {"role": "assistant", "content": "It is 12 degrees."},
        ],
        source="t",
        origin="t",
    )
    user, answer, flags = split_roles(conversation_text(conv))
    assert user == "Weather in Paris?"
    assert "get_weather" in answer and "city" in answer and '"temp": 12' in answer and "It is 12 degrees." in answer
    assert flags == ["tool_call", "tool_result"]
    assert split_roles("just some text") == ("just some text", "", [])


def _text(user: str, answer: str) -> str:
    return conversation_text(
        make_conversation(
            [{"role": "user", "content": user}, {"role": "assistant", "content": answer}], source="t", origin="t"
        )
    )


def test_shipped_model_classifies_obvious_examples() -> None:
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 5_000_000
    clf = load_default_classifier()
    tool = make_conversation(
        [
            {"role": "user", "content": "Book me a table for two at an Italian restaurant in Boston tonight at 7pm."},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    tool_call(
                        "reserve_restaurant", {"cuisine": "Italian", "city": "Boston", "party_size": 2, "time": "19:00"}
                    )
                ],
            },
        ],
        source="t",
        origin="t",
    )
    texts = [
        _text(
            "Write a Python function that returns the n-th Fibonacci number.",
            "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        ),
        _text(
            "I feel hopeless and alone. Nobody would notice if I disappeared.",
            "I'm so sorry you're feeling this way. It sounds incredibly painful, and you don't have to go through it alone.",
        ),
        conversation_text(tool),
    ]
    got = clf.predict(texts)
    assert [c for c, _ in got] == ["technical", "empathetic", "tool_use"], got
    assert all(0.0 <= p <= 1.0 for _, p in got)
    top = clf.top(texts[:1], k=3)[0]
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]


def test_classify_cli_handles_three_shapes_and_broken_lines(tmp_path: Path) -> None:
    from emergent.cli import app

    lines = [
        json.dumps(
            {
                "instruction": "Write a SQL query that counts the rows of the users table.",
                "input": "",
                "output": "SELECT COUNT(*) FROM users;",
            }
        ),
        "{this is not json",
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "I can't stop crying since my mother died."},
                    {"role": "assistant", "content": "I'm so sorry for your loss. Grief like this is heavy."},
                ]
            }
        ),
        json.dumps({"text": "user: Who wrote the novel Moby-Dick?\nassistant: Herman Melville."}),
        json.dumps({"neither": 1}),
    ]
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["data", "classify", str(f)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5]
    assert "error" in rows[1] and "line 2" in rows[1]["error"]
    assert "error" in rows[4] and "messages" in rows[4]["error"]
    assert (
        rows[0]["category"] == "technical" and rows[2]["category"] == "empathetic" and rows[3]["category"] == "factual"
    )
    assert len(rows[0]["top3"]) == 3 and 0 <= rows[0]["confidence"] <= 1


def test_train_classifier_cli_writes_model_and_metrics(shared_data: Path, tmp_path: Path) -> None:
    from emergent.cli import app

    sources = _small_sources(shared_data)
    for s in sources:
        s["max_examples"] = 80
    cfg = {
        "seed": 0,
        "sources": sources,
        "classifier": {"max_per_class": 80, "n_features_log2": 14, "holdout_sources": ["mbpp"]},
    }
    config = tmp_path / "clf.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "m" / "clf.npz"
    result = CliRunner().invoke(app, ["data", "train-classifier", str(config), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "held-out split" in result.output and "cross-source" in result.output
    metrics = json.loads((tmp_path / "m" / "clf.metrics.json").read_text())
    assert metrics["cross_source"]["per_source"]["mbpp"]["examples"] == 80
    assert metrics["holdout"]["accuracy"] > 0.5
    assert Classifier.load(out).predict(["user: hi"])[0][0] in {"analytical", "empathetic", "technical", "factual"}


def test_classifier_config_errors_name_the_key_and_the_fix(shared_data: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"sources": _small_sources(shared_data), "classifier": {"ngram_maximum": 2}}))
    with pytest.raises(ConfigError, match="classifier.ngram_maximum"):
        load_classifier_config(config)
    config.write_text(
        yaml.safe_dump({"sources": _small_sources(shared_data), "classifier": {"holdout_sources": ["nope"]}})
    )
    with pytest.raises(ConfigError, match="no source named 'nope'"):
        load_classifier_config(config)
    mixed = [
        {
            "name": "si",
            "format": "self_instruct",
            "path": str(shared_data / "self-instruct/user_oriented_instructions.jsonl"),
        }
    ]
    cfg = parse_config({"sources": mixed}, config)
    with pytest.raises(ConfigError, match="set `category:`"):
        labelled_examples(cfg)


def test_shipped_training_config_is_valid(shared_data: Path) -> None:
    cfg, settings = load_classifier_config(ROOT / "configs" / "classifier.yaml")
    assert settings.holdout_sources and all(any(s.name == h for s in cfg.sources) for h in settings.holdout_sources)
