from collections import Counter

from emergent.curate.composition import (
    cap_limits,
    composition,
    diversity,
    downsample,
    fair_shares,
    target_feasibility,
)
from emergent.curate.config import CurateConfig


def test_seed_targets_are_flagged_infeasible_without_crashing():
    targets = CurateConfig().targets
    warnings = target_feasibility(targets)
    assert len(warnings) == 1 and "105%" in warnings[0]


def test_composition_flags_below_above_and_over_max():
    targets = {"technical": (0.25, 0.30), "creative": (0.08, 0.10), "ethical": (0.03, 0.05)}
    comp = composition(Counter(technical=60, creative=5, ethical=35), targets, max_share=0.30)
    assert comp["technical"]["status"] == "above_max"
    assert comp["creative"]["status"] == "below"
    assert comp["ethical"]["status"] == "above_max"
    comp = composition(Counter(technical=28, creative=9, ethical=4, analytical=59), targets, max_share=0.60)
    assert [comp[b]["status"] for b in ("technical", "creative", "ethical", "analytical")] == [
        "ok",
        "ok",
        "ok",
        "untargeted",
    ]
    assert comp["technical"]["target"] == [0.25, 0.30] and comp["technical"]["share"] == 0.28


def test_diversity_entropy_and_effective_buckets():
    d = diversity(Counter(technical=10, creative=10, ethical=10, factual=10))
    assert d["entropy_bits"] == 2.0 and d["effective_buckets"] == 4.0
    assert diversity(Counter(technical=5))["effective_buckets"] == 1.0


def test_caps_reach_a_fixed_point_and_downsample_deterministically():
    limits = cap_limits({"a": 80, "b": 20}, {"a": 0.5})
    assert limits == {"a": 20, "b": 20}
    keep = downsample(100, 30, seed=1)
    assert keep.sum() == 30 and (keep == downsample(100, 30, seed=1)).all()


def test_caps_summing_to_all_of_the_mixture_keep_it_and_hold_to_within_a_row():
    import random

    counts = {"technical": 115, "empathetic": 60, "creative": 62}
    caps = {"technical": 0.3 / 0.52, "empathetic": 0.12 / 0.52, "creative": 0.1 / 0.52}
    limits = cap_limits(counts, caps)
    assert limits == {"technical": 115, "empathetic": 46, "creative": 38}  # technical binds: 115 / (0.3 / 0.52)
    rng = random.Random(0)
    for _ in range(200):
        counts = {g: rng.randint(0, 500) for g in "abcde"}
        caps = {g: rng.uniform(0.05, 0.6) for g in rng.sample("abcde", rng.randint(1, 5))}
        limits = cap_limits(counts, caps)
        total = sum(limits.values())
        assert all(0 <= limits[g] <= counts[g] for g in counts)
        assert all(limits[g] <= caps[g] * total + 1 for g in caps)  # a cap holds to within one row
        # Maximal: one more row in any capped group that has rows left would break its cap by over a row.
        assert all(limits[g] == counts[g] or limits[g] + 1 > caps[g] * (total + 1) - 1 for g in caps)


def test_a_share_within_one_row_of_a_bound_is_on_it():
    targets = {"technical": (0.25, 0.30), "creative": (0.70, 0.75)}
    # 301 of 1000 is 0.1 rows past 30 %: a cap at 30 % cannot do better with whole rows.
    comp = composition(Counter(technical=301, creative=699), targets, max_share=0.9)
    assert comp["technical"]["status"] == "ok" and comp["creative"]["status"] == "ok"
    comp = composition(Counter(technical=302, creative=698), targets, max_share=0.9)
    assert comp["technical"]["status"] == "above" and comp["creative"]["status"] == "below"
    assert (
        composition(Counter(technical=302, creative=698), targets, max_share=0.3)["technical"]["status"] == "above_max"
    )


def test_a_capped_bucket_gives_up_rows_from_its_largest_sources_first():
    # ETHICS-like: one large templated source and two small ones in the same bucket.
    keep = fair_shares({"ethics": 68_000, "argq": 71, "argkp": 276}, 13_759)
    assert keep["argq"] == 71 and keep["argkp"] == 276 and keep["ethics"] == 13_759 - 347
    even = fair_shares({"a": 100, "b": 100, "c": 10}, 110)
    assert even == {"a": 50, "b": 50, "c": 10}
    odd = fair_shares({"a": 100, "b": 100}, 101)
    assert sum(odd.values()) == 101 and sorted(odd.values()) == [50, 51]
    assert fair_shares({"a": 5}, 9) == {"a": 5}
