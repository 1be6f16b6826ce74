"""Composition of the mixture against target ranges, diversity figures, and build-time caps."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from emergent.handoff import CompositionStatus
from emergent.schema import CATEGORIES


def composition(
    counts: Counter, targets: dict[str, tuple[float, float]], max_share: float, predicted: Counter | None = None
) -> dict[str, dict]:
    """Per bucket: count, share, target [lo, hi], status (ok / below / above / above_max / untargeted).

    With `predicted` (per bucket, the records whose category the classifier chose rather than the
    source config), each bucket also says how much of it is `from_config` and how much `predicted`.

    A share within one row of a bound counts as on it: counts are whole, so a mixture capped at a
    bound (curate.caps) can land a fraction of a row past it.
    """
    total = sum(counts.values())
    slack = 1 / total if total else 0.0
    out: dict[str, dict] = {}
    for bucket in sorted(
        set(CATEGORIES) | set(counts),
        key=lambda b: (b not in CATEGORIES, CATEGORIES.index(b) if b in CATEGORIES else 0, b),
    ):
        n = counts.get(bucket, 0)
        share = n / total if total else 0.0
        lo, hi = targets.get(bucket, (None, None))
        if share > max_share + slack:
            status = CompositionStatus.ABOVE_MAX
        elif lo is None:
            status = CompositionStatus.UNTARGETED
        elif share < lo - slack:
            status = CompositionStatus.BELOW
        elif share > hi + slack:
            status = CompositionStatus.ABOVE
        else:
            status = CompositionStatus.OK
        out[bucket] = {
            "count": n,
            "share": round(share, 6),
            "target": [lo, hi] if lo is not None else None,
            "status": status,
        }
        if predicted is not None:
            out[bucket]["predicted"] = predicted.get(bucket, 0)
            out[bucket]["from_config"] = n - predicted.get(bucket, 0)
    return out


def composition_warnings(
    comp: dict[str, dict], targets: dict[str, tuple[float, float]], max_share: float, when: str
) -> list[str]:
    warnings = []
    for bucket, c in comp.items():
        pct = f"{100 * c['share']:.1f}%"
        if c["status"] == CompositionStatus.ABOVE_MAX:
            warnings.append(
                f"{when}: {bucket} is {pct} of the mixture, above the {100 * max_share:.0f}% any bucket may take"
            )
        elif c["status"] in (CompositionStatus.BELOW, CompositionStatus.ABOVE):
            lo, hi = c["target"]
            warnings.append(f"{when}: {bucket} is {pct}, {c['status']} its target {100 * lo:.0f}–{100 * hi:.0f}%")
    return warnings


def target_feasibility(targets: dict[str, tuple[float, float]]) -> list[str]:
    """Targets no mixture can meet: lower bounds summing above 100 %, or upper bounds below it."""
    lo = sum(t[0] for t in targets.values())
    hi = sum(t[1] for t in targets.values())
    out = []
    if lo > 1 + 1e-9:
        out.append(
            f"infeasible targets: the lower bounds sum to {100 * lo:.0f}% (> 100%), so at least one bucket must fall below its range"
        )
    if targets and hi < 1 - 1e-9 and set(targets) >= set(CATEGORIES):
        out.append(
            f"infeasible targets: the upper bounds sum to {100 * hi:.0f}% (< 100%), so at least one bucket must exceed its range"
        )
    return out


def diversity(counts: Counter) -> dict[str, float]:
    """Shannon entropy (bits) of the bucket shares and its effective number of buckets (2^H)."""
    total = sum(counts.values())
    h = -sum((n / total) * math.log2(n / total) for n in counts.values() if n) if total else 0.0
    return {
        "entropy_bits": round(h, 6),
        "effective_buckets": round(2**h, 6),
        "max_entropy_bits": round(math.log2(len(CATEGORIES)), 6),
    }


def cap_limits(counts: dict[str, int], caps: dict[str, float]) -> dict[str, int]:
    """Largest count each capped group may keep so that its share of the kept total is at most its cap
    (to within one row: counts are whole, shares are not).

    Capping one group shrinks the total and so tightens every cap. The kept total is the largest K
    with sum(min(n, cap x K)) >= K (bisection: the sum is concave in K); each capped group then keeps
    cap x K rows, rounded so that the counts add up to that total (largest remainders). Iterating
    whole-row caps from the full total instead loses rows to rounding on every round, and nearly all
    of them when the caps sum to 100 %.
    """

    def kept(total: float) -> float:
        return sum(min(n, caps[k] * total) if k in caps else n for k, n in counts.items())

    lo, hi = 0.0, float(sum(counts.values()))
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if kept(mid) >= mid else (lo, mid)
    exact = {k: (min(n, caps[k] * lo) if k in caps else float(n)) for k, n in counts.items()}
    limits = {k: math.floor(v + 1e-9) for k, v in exact.items()}
    spare = round(sum(exact.values())) - sum(limits.values())
    for k in sorted(exact, key=lambda k: (limits[k] - exact[k], k))[: max(0, spare)]:
        limits[k] = min(counts[k], limits[k] + 1)
    return limits


def feasible_caps(caps: dict[str, float], counts: dict[str, int], what: str, warnings: list[str]) -> dict[str, float]:
    """`caps` as asked, unless they cap every group present at less than 100 % in all: no mixture fits
    them then, and capping would shrink it to nothing. They are scaled up alike, keeping their
    proportions, and the build says so."""
    room = sum(caps.values())
    if not caps or room >= 1 or any(n and k not in caps for k, n in counts.items()):
        return caps
    warnings.append(f"{what}: the caps of the groups present sum to {room:.0%}, so they were scaled up alike")
    return {k: v / room for k, v in caps.items()}


def fair_shares(counts: dict[str, int], limit: int) -> dict[str, int]:
    """How many rows each source of a capped bucket keeps so that the bucket keeps `limit`: the largest
    sources give rows up first (water-filling), a source smaller than the level keeps every row.

    A bucket cut at random would lose its small sources in proportion to a large templated one (ETHICS
    would take IBM Debater's arguments down with it); levelling keeps the bucket's variety.
    """
    if limit >= sum(counts.values()):
        return dict(counts)
    lo, hi = 0.0, float(max(counts.values(), default=0))
    for _ in range(100):  # the level L with sum(min(n, L)) = limit; the sum grows with L
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(min(n, mid) for n in counts.values()) <= limit else (lo, mid)
    exact = {k: min(n, lo) for k, n in counts.items()}
    keep = {k: math.floor(v + 1e-9) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (keep[k] - exact[k], k))[: max(0, limit - sum(keep.values()))]:
        keep[k] = min(counts[k], keep[k] + 1)
    return keep


def downsample(n: int, limit: int, seed: int) -> np.ndarray:
    """Boolean mask keeping `limit` of the rows, chosen by a seeded random order (deterministic)."""
    keep = np.zeros(n, dtype=bool)
    if limit >= n:
        keep[:] = True
        return keep
    order = np.random.default_rng(seed).permutation(n)
    keep[order[:limit]] = True
    return keep
