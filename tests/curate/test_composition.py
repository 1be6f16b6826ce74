from collections import Counter

from emergent.curate.composition import cap_limits, composition, diversity, downsample, target_feasibility
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
