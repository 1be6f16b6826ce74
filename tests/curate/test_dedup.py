import numpy as np
from curate_helpers import LOREM, conv

from emergent.curate.dedup import all_band_keys, keep_rank, optimal_bands, plan_exact, plan_near
from emergent.curate.minhash import shingles, signatures
from emergent.curate.text import dedup_text, exact_hash
from emergent.schema import make_conversation


def test_exact_normalisation_covers_unicode_case_whitespace_but_not_roles():
    a = conv("Ｗhat  is\tPython?", "A   programming language.")
    b = conv("what is python?", "a programming language.")
    assert exact_hash(dedup_text(a)) == exact_hash(dedup_text(b))
    swapped = make_conversation(
        [{"role": "assistant", "content": "what is python?"}, {"role": "user", "content": "a programming language."}],
        source="s",
        origin="t",
    )
    assert exact_hash(dedup_text(swapped)) != exact_hash(dedup_text(b))


def test_keep_priority_source_order_then_longest():
    source = np.array([1, 0, 0, 1])
    lengths = np.array([50, 10, 30, 99])
    rank = keep_rank(source, lengths, ["source_order", "longest"])
    assert list(np.argsort(rank)) == [2, 1, 3, 0]
    rank = keep_rank(source, lengths, ["longest", "source_order"])
    assert list(np.argsort(rank)) == [3, 0, 2, 1]
    keeper = plan_exact(np.array([7, 7, 7, 8]), keep_rank(source, lengths, ["source_order", "longest"]))
    assert list(keeper) == [2, 2, 2, 3]


def test_optimal_bands_match_datasketch_for_the_seed():
    assert optimal_bands(0.8, 128) == (9, 13)
    assert optimal_bands(0.8, 128, false_negative_weight=0.95) == (16, 8)  # the build default


def _near(texts, threshold=0.8, verify=True):
    bands, rows = optimal_bands(threshold, 128, 0.95)
    sig = signatures(texts, 5, 128)
    keys = all_band_keys(sig, bands, rows)
    n = len(texts)
    rank = keep_rank(np.zeros(n, int), np.array([len(t) for t in texts]), ["source_order", "longest"])
    return plan_near(keys, sig if verify else None, rank, np.arange(n), threshold)


def test_near_dup_finds_planted_edits_and_keeps_distinct_texts():
    base = (
        LOREM + " and the board will meet again next month to review the outcome of these decisions in detail, "
        "after which the chair will write to every department head with the final figures for the coming year"
    ).lower()
    edited = base.replace("reduced", "cut")  # one word changed
    spaced = base.replace(" ", "  ")  # whitespace only (normalised away by split)
    distinct = "a completely different text about cooking pasta with garlic olive oil and fresh basil leaves for dinner tonight with friends"
    other = (
        "the weather tomorrow will be sunny with a light breeze from the west and temperatures rising in the afternoon"
    )
    keeper = _near([base, edited, spaced, distinct, other])
    assert keeper[0] == keeper[1] == keeper[2]
    assert keeper[3] == 3 and keeper[4] == 4
    assert keeper[0] in (0, 1, 2)


def test_shingles_of_short_text_is_one_shingle():
    assert shingles("a b", 5) == ["a b"]
    assert len(shingles("a b c d e f", 5)) == 2
