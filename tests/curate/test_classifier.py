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
    FORMAT_VERSION,
    Classifier,
    FeatureSettings,
    evaluate,
    load_default_classifier,
    split_roles,
)
from emergent.curate.classifier_data import balanced_sample, classifier_text, stratified_split
from emergent.curate.classifier_train import labelled_examples, load_classifier_config
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


def test_balanced_pool_weights_give_every_bucket_the_same_total() -> None:
    from emergent.curate.classifier_train import pool_weights

    labels = ["factual"] * 6 + ["creative"] * 3 + ["ethical"]
    assert pool_weights(labels, balance=False) == [1.0] * 10
    w = pool_weights(labels, balance=True)
    totals = {c: sum(x for x, lab in zip(w, labels, strict=True) if lab == c) for c in set(labels)}
    assert all(abs(t - 10 / 3) < 1e-9 for t in totals.values()) and abs(sum(w) - 10) < 1e-9


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
    # Tools offered but not yet called are evidence too: a flag, and their names on the answer side.
    conv["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    conv["messages"] = conv["messages"][:1]
    user, answer, flags = split_roles(classifier_text(conv))
    assert user == "Weather in Paris?" and answer == "get_weather" and flags == ["tools_given"]


def _text(user: str, answer: str) -> str:
    return conversation_text(
        make_conversation(
            [{"role": "user", "content": user}, {"role": "assistant", "content": answer}], source="t", origin="t"
        )
    )


def test_shipped_model_classifies_obvious_examples() -> None:
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 7_000_000  # the repo stays lean
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
        "classifier": {
            "max_per_source": 80,
            "n_features_log2": 14,
            "distil": False,
            "handwritten_weight": 2,
            "ship_embedding_head": False,
        },
    }
    config = tmp_path / "clf.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "m" / "clf.npz"
    result = CliRunner().invoke(app, ["data", "train-classifier", str(config), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "hand-written test half" in result.output and "leave-one-source-out" in result.output
    metrics = json.loads((tmp_path / "m" / "clf.metrics.json").read_text())
    loso = metrics["leave_one_source_out"]
    assert set(loso["per_source"]) == {"gsm8k", "counsel_chat", "codealpaca", "nq_open", "mbpp"}
    assert loso["per_source"]["mbpp"]["examples"] > 80  # 80 conversations plus their requests alone
    assert np.asarray(loso["confusion"]).sum() == sum(s["examples"] for s in loso["per_source"].values())
    # Every bucket is in the hand-written half; the small corpora cover four of them.
    assert len(metrics["handwritten_test"]["per_class"]) == 10 and metrics["handwritten_test"]["macro_f1"] > 0.3
    assert Classifier.load(out).info["confidence_threshold"] == 0.5


def test_classifier_config_errors_name_the_key_and_the_fix(shared_data: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"sources": _small_sources(shared_data), "classifier": {"ngram_maximum": 2}}))
    with pytest.raises(ConfigError, match="classifier.ngram_maximum"):
        load_classifier_config(config)
    mapped = {"mapped": [{"source": "nope", "field": "motivation_app", "mapping": "m.yaml"}]}
    config.write_text(yaml.safe_dump({"sources": _small_sources(shared_data), "classifier": mapped}))
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
    assert settings.mapped and settings.static_dims and settings.leave_one_source_out
    assert {s.name for s in cfg.sources} >= {m.source for m in settings.mapped}


def _random_static(dims: int = 8):
    from emergent.curate.classifier_static import StaticVectors, tokenizer

    rng = np.random.default_rng(0)
    return StaticVectors(rng.normal(size=(tokenizer().get_vocab_size(), dims)).astype(np.float32))


@pytest.mark.parametrize(("piece_bag", "head"), [(0.0, 0), (3.0, 0), (0.0, 20), (3.0, 20)])
def test_static_block_scores_like_its_training_features_and_survives_save_load(
    tmp_path: Path, piece_bag: float, head: int
) -> None:
    static = _random_static()
    texts = [
        "user: write a sonnet about rain",
        "user: my dog died and I feel empty",
        "user: 2 + 2?",
        "",
        "user: ok",
        "user: Summarise this passage.\n" + "The river rose all night and the town slept. " * 20,
    ] * 4
    labels = ["creative", "empathetic", "analytical", "analytical", "creative", "instructional"] * 4
    settings = FeatureSettings(
        n_features_log2=10, static_dims=8, hashed_ngrams=False, piece_bag=piece_bag, request_head_chars=head
    )
    clf = Classifier.train(texts, labels, settings=settings, static=static, regularization_c=10.0)
    # Prediction gathers (table @ weights) rows instead of building the features: same numbers.
    # The word-piece bag block adds its weights to those rows (it is scaled like the static mean);
    # the request-head block does the same with its own weights over the head.
    assert clf.featurizer.n_bag == (static.table.shape[0] if piece_bag else 0)
    assert clf.featurizer.n_head == ((8 + clf.featurizer.n_bag) if head else 0)
    logits = clf.featurizer.transform(texts) @ clf.weights + clf.bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.abs(clf.probabilities(texts) - expected).max() < 1e-5
    loaded = Classifier.load(clf.save(tmp_path / "static.npz"))
    assert loaded.settings == settings and loaded.settings.request_head_chars == head
    # int8 table and float16 weights: probabilities move a little, the decisions do not.
    assert [c for c, _ in loaded.predict(texts)] == [c for c, _ in clf.predict(texts)]
    assert np.abs(loaded.probabilities(texts) - clf.probabilities(texts)).max() < 2e-2


def test_request_head_block_reads_only_the_first_chars_of_the_user_side() -> None:
    static = _random_static()
    settings = FeatureSettings(
        n_features_log2=10, static_dims=8, hashed_ngrams=False, piece_bag=3.0, request_head_chars=28
    )
    instruction = "user: Rewrite this email politely."  # 28 characters after the role prefix
    texts = [
        instruction + "\nDear team, the sprint is late again and I am tired of it.",
        instruction + "\nHi all, quick reminder: quarterly taxes are due on Friday.",
        "user: Translate this email to French.\nDear team, the sprint is late again and I am tired of it.",
        "system: You are terse.\n" + instruction + "\nassistant: Sure.",
    ]
    labels = ["instructional", "creative"]
    from emergent.curate.classifier import Featurizer

    featurizer = Featurizer(settings, static)
    heads = featurizer.heads(texts)
    assert heads[0] == heads[1] == heads[3] == "Rewrite this email politely."
    assert heads[2] != heads[0]
    # Only the head block's weights are non-zero: the score must ignore everything after the head.
    rng = np.random.default_rng(1)
    weights = np.zeros((featurizer.n_features, len(labels)), dtype=np.float32)
    weights[featurizer.n_features - featurizer.n_head :] = rng.normal(size=(featurizer.n_head, len(labels)))
    clf = Classifier(labels, weights, np.zeros(len(labels)), settings, static=static)
    p = clf.probabilities(texts)
    assert np.abs(p[0] - p[1]).max() < 1e-6 and np.abs(p[0] - p[3]).max() < 1e-6
    assert np.abs(p[0] - p[2]).max() > 1e-3
    # Training features agree: the head columns of texts sharing a head are equal.
    X = featurizer.transform(texts).toarray()[:, featurizer.n_features - featurizer.n_head :]
    assert np.array_equal(X[0], X[1]) and not np.array_equal(X[0], X[2])


def test_request_head_needs_the_static_block() -> None:
    from emergent.curate.classifier import Featurizer

    with pytest.raises(ValueError, match="request_head_chars needs the static block"):
        Featurizer(FeatureSettings(n_features_log2=10, request_head_chars=300))


def _rewrite_meta(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def test_model_file_of_an_unreadable_format_is_refused_with_retrain_message(tmp_path: Path) -> None:
    texts = ["user: write a poem", "user: fix my code", "user: how far is the moon"] * 3
    labels = ["creative", "technical", "factual"] * 3
    settings = FeatureSettings(n_features_log2=10, static_dims=8, hashed_ngrams=False, request_head_chars=10)
    path = Classifier.train(texts, labels, settings=settings, static=_random_static()).save(tmp_path / "m.npz")
    assert json.loads(str(np.load(path)["meta"]))["format_version"] == FORMAT_VERSION == 7
    _rewrite_meta(path, format_version=5)
    with pytest.raises(ValueError, match=f"classifier format 5 is not {FORMAT_VERSION} — retrain it"):
        Classifier.load(path)


def test_format_6_model_without_the_head_setting_still_loads(tmp_path: Path) -> None:
    # Version 6 is version 7 without the head block; the shipped model may be one.
    texts = ["user: write a poem", "user: fix my code", "user: how far is the moon"] * 3
    labels = ["creative", "technical", "factual"] * 3
    settings = FeatureSettings(n_features_log2=10, static_dims=8, hashed_ngrams=False, piece_bag=3.0)
    clf = Classifier.train(texts, labels, settings=settings, static=_random_static())
    path = clf.save(tmp_path / "m.npz")
    old = settings.model_dump()
    del old["request_head_chars"]
    _rewrite_meta(path, format_version=6, settings=old)
    loaded = Classifier.load(path)
    assert loaded.settings.request_head_chars == 0
    assert [c for c, _ in loaded.predict(texts)] == [c for c, _ in clf.predict(texts)]


def test_classify_cli_embedding_path_keeps_the_interface_and_prints_its_rate(tmp_path: Path) -> None:
    from emergent.cli import app

    f = tmp_path / "in.jsonl"
    f.write_text(
        json.dumps({"text": "user: Write a limerick about a forgetful cat."})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "What PPE do I need to handle hydrofluoric acid?"}]})
        + "\n"
    )
    result = CliRunner().invoke(app, ["data", "classify", "--embeddings", str(f)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["category"] for r in rows] == ["creative", "specialized"]
    assert all(len(r["top3"]) == 3 and 0 <= r["confidence"] <= 1 for r in rows)
    assert "per CPU-second" in result.output
