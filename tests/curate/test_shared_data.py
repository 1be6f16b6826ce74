"""The real near-duplicates in ../shared/data: codealpaca's two files and the Aesop translations."""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import yaml

from emergent.config import load_config, parse_config, read_config_data
from emergent.curate.build import build
from emergent.curate.dedup import all_band_keys, keep_rank, optimal_bands, plan_near
from emergent.curate.minhash import shingles, signatures
from emergent.data.config import IngestConfig, SourceConfig
from emergent.data.ingest import IngestStream
from emergent.errors import ConfigError
from emergent.text import dedup_text

pytestmark = pytest.mark.shared_data


def exact_pairs(texts: list[str], n: int, threshold: float) -> set[tuple[int, int]]:
    """Ground truth: every pair whose exact shingle Jaccard reaches the threshold (inverted index)."""
    sets = [set(shingles(t, n)) for t in texts]
    index = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            index[g].append(i)
    candidates = {p for ids in index.values() if len(ids) < 50 for p in combinations(ids, 2)}
    return {(i, j) for i, j in candidates if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= threshold}


@pytest.mark.slow
def test_codealpaca_rephrased_tasks_are_found(shared_data):
    """The two files re-ask the same tasks in other words: pairs at 5-gram Jaccard 0.5-0.8, none >= 0.8.

    At the seed threshold (0.8) there is nothing to find; at 0.5 our MinHash-LSH (candidates verified
    by exact Jaccard, as the build does) must find the pairs clearly above it and drop nothing that is
    not near a duplicate.
    """
    sources = [
        SourceConfig(
            name=name,
            format="alpaca",
            path=str(shared_data / "codealpaca" / f),
            files=[shared_data / "codealpaca" / f],
            category="technical",
        )
        for name, f in (("codealpaca_2k", "code_alpaca_2k.json"), ("codealpaca_new", "new_codealpaca.json"))
    ]
    convs = list(IngestStream(sources, IngestConfig(), lambda entry: None))
    assert len(convs) > 6000
    texts = [dedup_text(c) for c in convs]
    assert not exact_pairs(texts, 5, 0.8)
    clear = exact_pairs(texts, 5, 0.6)  # clearly above the 0.5 threshold used here
    loose = exact_pairs(texts, 5, 0.4)
    # The files share one rephrased task (Jaccard 0.5-0.6); the rest repeat within new_codealpaca.
    cross = {(i, j) for i, j in exact_pairs(texts, 5, 0.5) if convs[i]["_source"] != convs[j]["_source"]}
    assert len(clear) >= 20 and cross, "expected rephrased tasks, one shared by the two files"

    threshold = 0.5
    bands, rows = optimal_bands(threshold, 128, 0.95)
    sig = signatures(texts, 5, 128)
    rank = keep_rank(
        np.array([0 if c["_source"] == "codealpaca_2k" else 1 for c in convs]),
        np.array([len(t) for t in texts]),
        ["source_order", "longest"],
    )
    keeper = plan_near(
        all_band_keys(sig, bands, rows),
        sig,
        rank,
        np.arange(len(texts)),
        threshold,
        texts=lambda r: [texts[i] for i in r],
    )
    assert np.mean([keeper[i] == keeper[j] for i, j in clear]) >= 0.95
    assert all(keeper[i] == keeper[j] for i, j in cross)
    removed = np.nonzero(keeper != np.arange(len(texts)))[0]
    near_something = {i for p in loose for i in p}
    assert len(removed) and np.mean([i in near_something for i in removed]) >= 0.95


def test_aesop_translations_are_found_as_same_prompt_duplicates(shared_data, tmp_path):
    """Different translations of one fable share almost no word 5-grams (median Jaccard 0.0), so no
    near-duplicate method finds them; they ask the same prompt (the title), which prompt dedup finds."""
    files = ("aesop4children", "aesopfables", "aesopfables-alt")
    titles = defaultdict(list)
    for f in files:
        for rec in json.loads((shared_data / "aesop" / f"{f}.json").read_text()):
            titles[" ".join(rec["title"].casefold().split())].append(f)
    shared_titles = sum(len(v) - 1 for v in titles.values())
    assert shared_titles >= 30
    # aesop4children is listed first, so it loses only to itself (a title it tells twice).
    first_repeats = sum(max(0, v.count("aesop4children") - 1) for v in titles.values())

    cfg = {
        "seed": 0,
        "sources": [
            {
                "name": f,
                "format": "prompt_completion",
                "path": str(shared_data / "aesop" / f"{f}.json"),
                "column_map": {"prompt": "title", "completion": "fable"},
                "category": "creative",
            }
            for f in files
        ],
        "curate": {"workers": 0, "prompt_dedup": {"enabled": True}, "decontaminate": {"eval_suites": False}},
    }
    path = tmp_path / "aesop.yaml"
    path.write_text(yaml.safe_dump(cfg))
    m = build(load_config(path), tmp_path / "out", show_progress=False)
    assert m["counts"]["prompt_duplicates"] >= shared_titles
    assert m["sources"]["aesop4children"]["prompt_duplicates"] == first_repeats
    entries = [
        json.loads(line) for line in (tmp_path / "out" / "dropped" / "prompt_dedup.jsonl").read_text().splitlines()
    ]
    assert {e["reason"] for e in entries} == {"same_prompt"}


def test_the_seed_config_dedups_aesop_prompts_and_keeps_counsel_chat_answers(shared_data, tmp_path):
    """The shipped seed settings, on two of its real sources: same-prompt dedup is scoped to aesop.

    The aesop reader asks for a fable by title *and lesson*, and translations word the lesson
    differently, so only retellings whose title and lesson both match go (10 here); keyed on the
    title alone (test above) every translation is found."""
    seed = Path(__file__).resolve().parents[2] / "configs" / "seed.yaml"
    raw = read_config_data(seed)
    raw["sources"] = [s for s in raw["sources"] if s["name"] in ("aesop", "counsel_chat")]
    raw["curate"]["workers"] = 0
    cfg = parse_config(raw, seed)
    assert cfg.curate.prompt_dedup.enabled and cfg.curate.prompt_dedup.sources == ["aesop"]
    m = build(cfg, tmp_path / "out", show_progress=False)
    assert m["sources"]["aesop"]["prompt_duplicates"] >= 10
    # counsel-chat answers one question several times on purpose: none of those go.
    assert m["sources"]["counsel_chat"]["prompt_duplicates"] == 0
    assert m["dedup"]["prompt"] == {"enabled": True, "sources": ["aesop"]}


def test_prompt_dedup_sources_must_name_sources(tmp_path):
    raw = {
        "sources": [{"name": "a", "format": "alpaca", "path": "a.json"}],
        "curate": {"prompt_dedup": {"sources": ["b"]}},
    }
    with pytest.raises(ConfigError, match=r"prompt_dedup.sources names \['b'\]"):
        parse_config(raw, tmp_path / "c.yaml")


def test_the_seed_config_caps_ethics_holds_out_evaluation_parts_and_keeps_bfcl_distractors(shared_data, tmp_path):
    """The seed settings on real rows: ETHICS past `max_bucket_share` is downsampled (counted, the
    bucket's small sources kept whole), one
    NQ-open question in five is held out as the evaluation part, the evaluation sets are read and
    listed, and BFCL questions asked with other functions on offer are not duplicates."""
    seed = Path(__file__).resolve().parents[2] / "configs" / "seed.yaml"
    raw = read_config_data(seed)
    keep = {"gsm8k": 1500, "ethics": 3000, "ibm_debater_argkp": None, "nq_open": None, "bfcl": None}
    raw["sources"] = [s | {"max_examples": keep[s["name"]]} for s in raw["sources"] if s["name"] in keep]
    raw["curate"] |= {"workers": 0, "prompt_dedup": {"enabled": False}}
    raw["curate"]["decontaminate"]["evaluation_parts"] = ["nq_open"]  # hh_rlhf is not among these sources
    m = build(parse_config(raw, seed), tmp_path / "out", show_progress=False)

    ethical = m["composition"]["ethical"]
    assert ethical["share"] <= 0.30 + 1 / m["counts"]["output"] and ethical["status"] != "above_max"
    assert (
        m["sources"]["ethics"]["capped"] > 0
        and m["composition"]["factual"]["share"] <= 0.30 + 1 / m["counts"]["output"]
    )
    assert sum(s["capped"] for s in m["sources"].values()) == m["reasons"]["capped_max_bucket_share"]
    # The bucket gives up ETHICS's templated rows first: the debate arguments beside them all stay.
    argkp = m["sources"]["ibm_debater_argkp"]
    assert argkp["capped"] == 0 and argkp["output"] > 200
    entries = (tmp_path / "out" / "dropped" / "caps.jsonl").read_text().splitlines()
    assert len(entries) == m["counts"]["capped"]

    d = m["decontamination"]
    sets = {s["name"]: s for s in d["sets"]}
    assert {"gsm8k_test", "humaneval", "mbpp_test", "ifeval", "eq_bench", "nq_open (evaluation part)"} <= set(sets)
    assert sets["gsm8k_test"]["prompts"] == 1319 and not any("skipped" in s for s in sets.values())
    held = d["evaluation_parts"]["nq_open"]["held_out"]
    assert 0.17 < held / m["sources"]["nq_open"]["input"] < 0.23
    assert m["reasons"]["evaluation_part"] == held and m["sources"]["nq_open"]["contaminated"] >= held
    assert d["evaluation_splits_trained_on"] == [] and not any("EVALUATION SPLIT" in w for w in m["warnings"])
    # 85 BFCL records were "exact duplicates" when the tools were not part of the key.
    assert m["sources"]["bfcl"]["exact_duplicates"] == 0
