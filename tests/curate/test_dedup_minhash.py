"""The numpy shingling / MinHash / exact-Jaccard machinery behind near-dup dedup, checked against the
plain-Python definitions (`shingles`, set Jaccard) on the bundled real GSM8K sample."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from curate_helpers import conv

import emergent
from emergent.curate.dedup import all_band_keys, candidate_pairs, components, keep_rank, plan_near
from emergent.curate.jaccard import StagedTexts, exact_jaccard
from emergent.curate.minhash import shingle_hashes, shingles, signatures
from emergent.data.store import table_from_conversations
from emergent.schema import make_conversation
from emergent.text import dedup_text, exact_hash, normalise

SAMPLE = Path(emergent.__file__).parent / "data" / "sample" / "gsm8k" / "train.jsonl"


def gsm8k_texts() -> list[str]:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    return [normalise(r["question"] + "\n" + r["answer"]) for r in rows]


def jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = set(shingles(a, n)), set(shingles(b, n))
    return len(sa & sb) / len(sa | sb)


def edited_pairs(seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Each real text with variants where 1-25 % of the words are replaced: Jaccard from ~0.1 to ~0.95."""
    rng = random.Random(seed)
    base = [t for t in gsm8k_texts() if len(t.split()) >= 40]
    vocab = sorted({w for t in base for w in t.split()})
    texts, pairs = list(base), []
    for i, t in enumerate(base):
        for share in (0.01, 0.03, 0.06, 0.12, 0.25):
            words = t.split()
            for _ in range(max(1, int(share * len(words)))):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            pairs.append((i, len(texts)))
            texts.append(" ".join(words))
    return texts, np.array(pairs)


def test_shingle_hashes_are_the_hashes_of_shingles():
    texts = gsm8k_texts()[:200] + ["", "a b", "x", "one two three four five", "é ü ñ 漢字 テスト a b c d e f"]
    texts += ["control\x01inside a word, \x1fa separator"]  # str.split: \x01 joins, \x1f splits
    hashes, counts = shingle_hashes(texts, 5)
    assert counts.tolist() == [len(shingles(t, 5)) for t in texts]
    seen: dict[str, int] = {}
    for s, h in zip((s for t in texts for s in shingles(t, 5)), hashes.tolist(), strict=True):
        assert seen.setdefault(s, h) == h, f"shingle {s!r} hashed two ways"
    assert len(set(seen.values())) == len(seen), "two different shingles share a hash"
    # Not normalised (a newline inside a text): the same shingles as its normalised form.
    raw, _ = shingle_hashes(["A b\nc  d e f", "x"], 5)
    assert raw.tolist() == shingle_hashes(["A b c d e f", "x"], 5)[0].tolist()
    assert shingle_hashes([], 5)[0].shape == (0,)


def test_signatures_do_not_depend_on_batching_and_are_pinned():
    texts = gsm8k_texts()[:300]
    whole = signatures(texts, 5, 128)
    parts = np.concatenate([signatures(texts[i : i + 37], 5, 128) for i in range(0, len(texts), 37)])
    assert whole.dtype == np.uint32 and whole.shape == (300, 128)
    assert np.array_equal(whole, parts)
    # Pinned: a change here changes which records every existing config drops.
    assert signatures(["the cat sat on the mat today"], 5, 4).tolist() == [PINNED]
    assert signatures([], 5, 128).shape == (0, 128)


PINNED = [23889057, 39541859, 1379180272, 1455909162]


def test_estimated_jaccard_matches_exact_jaccard_on_real_text():
    """Each permutation agrees with probability J: no bias, binomial spread (sd sqrt(J(1-J)/128))."""
    texts, pairs = edited_pairs()
    sig = signatures(texts, 5, 128)
    exact = np.array([jaccard(texts[i], texts[j]) for i, j in pairs])
    estimate = (sig[pairs[:, 0]] == sig[pairs[:, 1]]).mean(axis=1)
    assert exact.min() < 0.3 and exact.max() > 0.9 and len(pairs) > 500
    error = estimate - exact
    expected_sd = np.sqrt(np.mean(exact * (1 - exact) / 128))
    assert abs(error.mean()) < 4 * expected_sd / np.sqrt(len(pairs))
    assert 0.8 < error.std() / expected_sd < 1.2


def test_lsh_s_curve_matches_theory():
    """16 bands x 8 rows: a pair shares a band with probability 1 - (1 - J^8)^16."""
    texts, pairs = edited_pairs(seed=1)
    keys = all_band_keys(signatures(texts, 5, 128), 16, 8)
    exact = np.array([jaccard(texts[i], texts[j]) for i, j in pairs])
    collide = (keys[pairs[:, 0]] == keys[pairs[:, 1]]).any(axis=1)
    for lo, hi in ((0.3, 0.6), (0.6, 0.75), (0.75, 0.85), (0.85, 1.0)):
        sel = (exact >= lo) & (exact < hi)
        assert sel.sum() >= 30, (lo, hi)
        theory = 1 - (1 - exact[sel] ** 8) ** 16
        tolerance = 4 * np.sqrt(np.mean(theory * (1 - theory)) / sel.sum()) + 0.02
        assert abs(collide[sel].mean() - theory.mean()) < tolerance, (lo, hi)


def test_exact_jaccard_equals_set_jaccard():
    texts, pairs = edited_pairs(seed=2)
    pairs = np.concatenate([pairs, [[0, 1], [2, 2], [3, 0]]])  # unrelated texts, a text with itself
    got = exact_jaccard(pairs, lambda rows: [texts[i] for i in rows], 5, chunk=97)
    assert np.allclose(got, [jaccard(texts[i], texts[j]) for i, j in pairs], rtol=0, atol=1e-12)
    # Repeated shingles count once (sets, not multisets).
    twice, once = "a b c d e f g a b c d e f g", "a b c d e f g"
    assert exact_jaccard(np.array([[0, 1]]), lambda rows: [twice, once], 5)[0] == jaccard(twice, once) == 3 / 7


def test_exact_verification_recovers_pairs_the_estimate_misses():
    """Every edited pair at exact Jaccard >= 0.8 that LSH proposes is kept; none below it."""
    texts, pairs = edited_pairs(seed=3)
    sig = signatures(texts, 5, 128)
    keys = all_band_keys(sig, 16, 8)
    n = len(texts)
    rank = keep_rank(np.zeros(n, np.int64), np.array([len(t) for t in texts]), ["source_order", "longest"])
    keeper = plan_near(keys, sig, rank, np.arange(n), 0.8, texts=lambda rows: [texts[i] for i in rows])
    candidates = {tuple(p) for p in candidate_pairs(keys).tolist()}
    for i, j in pairs.tolist():
        above = jaccard(texts[i], texts[j]) >= 0.8
        if above and (i, j) in candidates:
            assert keeper[i] == keeper[j]
        if not above:
            assert keeper[i] != keeper[j] or jaccard(texts[keeper[i]], texts[j]) >= 0.8


def test_components_are_connected_pieces():
    pairs = np.array([[0, 3], [3, 5], [1, 2], [6, 7], [5, 6]])
    labels = components(9, pairs)
    assert labels.tolist() == [0, 1, 1, 0, 4, 0, 0, 0, 8]
    assert components(3, np.zeros((0, 2), np.int64)).tolist() == [0, 1, 2]


def test_staged_texts_reread_what_pass_one_fingerprinted(tmp_path):
    convs = [conv(f"question {i} about python lists", f"answer {i}: use append") for i in range(10)]
    convs.append(
        make_conversation(
            [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"q": "x"}'}}
                    ],
                },
            ],
            source="s",
            origin="t",
        )
    )
    path = tmp_path / "staging.arrow"
    table = table_from_conversations(convs)
    with ipc.new_file(pa.OSFile(str(path), "wb"), table.schema) as writer:
        writer.write_table(table, max_chunksize=4)  # rows span several record batches
    hashes = np.array([exact_hash(dedup_text(c)) for c in convs], dtype=np.int64)
    staged = StagedTexts(path, hashes)
    rows = np.array([1, 4, 5, 10])
    assert staged(rows) == [dedup_text(convs[i]) for i in rows]
    hashes[4] += 1
    with pytest.raises(RuntimeError, match="staged row 4"):
        staged(rows)


def test_candidate_pairs_are_each_runs_chain_and_star():
    """Per band, rows sharing a key in row order: each with the next, and each with the run's first row."""
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**64, size=(3000, 4), dtype=np.uint64)
    for band in range(4):  # planted runs, one of 40 rows
        for size in (2, 3, 5, 40):
            rows = rng.choice(3000, size, replace=False)
            keys[rows, band] = keys[rows[0], band]
    expected = set()
    for band in range(4):
        runs: dict[int, list[int]] = {}
        for row, key in enumerate(keys[:, band].tolist()):
            runs.setdefault(key, []).append(row)
        for run in runs.values():
            expected |= {(a, b) for a, b in zip(run, run[1:], strict=False)} | {(run[0], b) for b in run[1:]}
    got = candidate_pairs(keys)
    assert {tuple(p) for p in got.tolist()} == expected and len(got) == len(expected)
    assert np.all(got[:-1, 0] <= got[1:, 0]) and np.all(got[:, 0] < got[:, 1])
    assert candidate_pairs(np.zeros((0, 4), np.uint64)).shape == (0, 2)
