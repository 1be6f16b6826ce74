from __future__ import annotations

import numpy as np
import pytest

from emergent.evaluate import stats


def test_exact_mcnemar_uses_only_the_discordant_pairs():
    # 10 items flip fail -> pass, 0 flip back: p = 2 * 0.5^10.
    base = [False] * 10 + [True] * 30
    adapter = [True] * 10 + [True] * 30
    t = stats.mcnemar_exact(base, adapter)
    assert (t["base_only"], t["adapter_only"], t["n"]) == (0, 10, 40)
    assert t["p"] == pytest.approx(2 * 0.5**10, rel=1e-3)
    assert stats.mcnemar_exact([True, False], [True, False])["p"] == 1.0  # no discordant pair


def test_paired_bootstrap_centres_on_the_mean_difference():
    t = stats.paired_bootstrap([0.5] * 30 + [-0.1] * 10, n=500, seed=0)
    assert t["mean"] == pytest.approx(0.35) and t["ci95"][0] > 0 and t["p"] < 0.01
    assert stats.paired_bootstrap([0.0] * 25)["p"] == 1.0


def test_holm_matches_the_textbook_example():
    # p sorted 0.01, 0.02, 0.03, 0.5 with m = 4: 0.04, 0.06, 0.06 (monotone), 0.5.
    assert stats.holm([0.03, 0.01, 0.5, 0.02]) == [0.06, 0.04, 0.5, 0.06]
    assert stats.holm([None, 0.01]) == [None, 0.01]  # a test without a p-value is not in the family


def test_no_verdict_below_n_20_and_holm_across_the_family():
    tests = [
        {"metric": "primary", "context": "a", "n": 12, "p": 0.001, "effect": 5},
        {"metric": "primary", "context": "b", "n": 50, "p": 0.01, "effect": 3},
        {"metric": "primary", "context": "c", "n": 50, "p": 0.03, "effect": -3},
        {"metric": "range", "context": "all", "n": 60, "p": 0.2, "effect": 0.1},
    ]
    stats.verdicts(tests)
    assert tests[0]["verdict"].startswith("no verdict (n = 12") and tests[0]["p_holm"] is None
    assert tests[1]["p_holm"] == 0.03 and tests[1]["verdict"] == "adapter better"
    assert tests[2]["p_holm"] == pytest.approx(0.06) and tests[2]["verdict"] == "not significant"
    assert tests[3]["verdict"] == "not significant"


def test_seeds_and_items_bootstrap_is_the_macro_mean_over_seeds_and_items():
    # Context a: 10 items, context b: 30; the macro mean weighs each context the same.
    contexts = ["a"] * 10 + ["b"] * 30
    diffs = np.array([[1.0] * 10 + [0.0] * 30, [0.0] * 10 + [0.0] * 30])
    t = stats.seeds_and_items_bootstrap(diffs, contexts, n=500, seed=0)
    assert t["mean"] == pytest.approx((0.5 + 0.0) / 2) and t["per_context"] == {"a": 0.5, "b": 0.0}
    assert (t["n"], t["seeds"], t["test"]) == (40, 2, "seeds_and_items_bootstrap")
    # One seed: the stratified item bootstrap alone; the point estimate is the plain macro mean.
    one = stats.seeds_and_items_bootstrap(diffs[:1], contexts, n=500, seed=0)
    assert one["mean"] == 0.5 and one["ci95"][0] > 0
    with pytest.raises(ValueError, match="seeds × items"):
        stats.seeds_and_items_bootstrap(diffs, contexts[:-1])
    assert stats.seeds_and_items_bootstrap(np.zeros((2, 40)), contexts)["p"] == 1.0


def test_seeds_that_disagree_widen_the_interval_where_items_alone_would_not():
    # Seed 0 wins every item, seed 1 loses every item: averaged per item the difference is exactly 0 everywhere,
    # so an items-only bootstrap says [0, 0]; resampling the seeds says the recipe could go either way.
    contexts = ["a"] * 25 + ["b"] * 25
    split = stats.seeds_and_items_bootstrap(np.array([[1.0] * 50, [-1.0] * 50]), contexts, n=1000, seed=0)
    assert split["mean"] == 0.0 and split["ci95"][0] <= -0.9 and split["ci95"][1] >= 0.9 and split["p"] > 0.5
    assert stats.paired_bootstrap([0.0] * 50)["ci95"] == [0.0, 0.0]
    # Seeds that agree (each wins on 60 % of items, on different items): the interval stays above zero.
    rng = np.random.default_rng(1)
    agree = np.array([rng.permutation([1.0] * 30 + [0.0] * 20) for _ in range(3)])
    t = stats.seeds_and_items_bootstrap(agree, contexts, n=1000, seed=0)
    assert t["mean"] == pytest.approx(0.6) and t["ci95"][0] > 0.4 and t["p"] < 0.01
