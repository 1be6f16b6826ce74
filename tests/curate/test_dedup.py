from pathlib import Path

import numpy as np
import pytest
from curate_helpers import LOREM, conv

from emergent.curate.dedup import (
    Fingerprint,
    all_band_keys,
    candidate_pairs,
    keep_rank,
    optimal_bands,
    plan_exact,
    plan_near,
)
from emergent.curate.minhash import shingles, signatures
from emergent.curate.steps import Dropped
from emergent.schema import make_conversation
from emergent.text import dedup_text, exact_hash


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


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
WEATHER = {"name": "get_weather", "description": "Weather for a city.", "parameters": {"type": "object"}}
FLIGHTS = {"name": "search_flights", "description": "Find flights.", "parameters": {"type": "object"}}


def _fingerprints(convs: list[dict]) -> dict[str, np.ndarray]:
    bands, rows = optimal_bands(0.8, 128, 0.95)
    step = Fingerprint(5, 128, bands, rows, with_signatures=True)
    assert len(list(step.run(convs, Dropped()))) == len(convs)
    return step.out.take()


def _with_tools(question: str, answer: str, tools: list[dict] | None) -> dict:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return make_conversation(messages, source="s", origin="t", tools=tools)


def test_tools_are_part_of_the_exact_prompt_and_near_duplicate_keys():
    q, a = "What's the weather in Oslo? " + LOREM, "Let me check. " + LOREM
    one = _with_tools(q, a, [WEATHER])
    distractors = _with_tools(q, a, [WEATHER, FLIGHTS])
    reordered = _with_tools(q, a, [{k: WEATHER[k] for k in reversed(list(WEATHER))}])  # same schema, keys reordered
    none = _with_tools(q, a, None)
    f = _fingerprints([one, distractors, reordered, none])
    assert f["hashes"][0] == f["hashes"][2] and len({*f["hashes"][[0, 1, 3]]}) == 3
    assert f["prompt_hashes"][0] == f["prompt_hashes"][2] and len({*f["prompt_hashes"][[0, 1, 3]]}) == 3
    # Same text, so equal signatures; LSH pairs only the two records offering the same tools.
    assert (f["signatures"][0] == f["signatures"][1]).all()
    assert {tuple(p) for p in candidate_pairs(f["band_keys"])} == {(0, 2)}
    # Without tools the keys are those of the text alone (builds of tool-less data do not change).
    assert f["hashes"][3] == exact_hash(dedup_text(none))


def test_different_questions_over_the_same_long_schemas_are_not_near_duplicates():
    schema = {"name": "fs", "description": " ".join(["a file system class with many documented methods"] * 60)}
    texts = [
        "List the files in my home folder and sort them by size.",
        "Delete the temp folder, then show me what is left.",
    ]
    f = _fingerprints([_with_tools(t, "Calling the tool now.", [schema]) for t in texts])
    assert len(candidate_pairs(f["band_keys"])) == 0 and f["hashes"][0] != f["hashes"][1]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real corpora not found at {SHARED}")
def test_bfcl_question_with_distractor_functions_is_not_a_duplicate():
    """BFCL_v4_multiple item 97 asks BFCL_v4_simple_python's quadratic question with two more functions on offer."""
    from emergent.data.config import IngestConfig, SourceConfig
    from emergent.data.ingest import IngestStream

    gorilla = SHARED / "gorilla"
    source = SourceConfig(
        name="bfcl",
        format="bfcl",
        paths=[str(gorilla / "BFCL_v4_simple_python.json"), str(gorilla / "BFCL_v4_multiple.json")],
    )
    source.resolve_paths(gorilla, "test")
    convs = list(IngestStream([source], IngestConfig(), lambda e: None).source_records(source))
    by_text: dict[str, list[dict]] = {}
    for c in convs:
        by_text.setdefault(dedup_text(c), []).append(c)
    same_text = [group for group in by_text.values() if len(group) > 1]
    assert len(same_text) >= 50  # the same question in both files: 85 were "exact duplicates" before
    f = _fingerprints([c for group in same_text for c in group])
    assert len(set(f["hashes"])) == len(f["hashes"])  # every one differs in its tools, so none is a duplicate
    quadratic = next(g for g in same_text if "a=2, b=6, and c=5" in g[0]["messages"][0]["content"])
    assert sorted(len(c["tools"]) for c in quadratic) == [1, 3]
