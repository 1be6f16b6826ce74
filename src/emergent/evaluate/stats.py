"""Paired tests for base vs adapter and the Holm correction across them.

Pass/fail items: the exact McNemar test (a two-sided binomial test on the discordant pairs, scipy's
`binomtest`). Graded items and the secondary metrics: a paired bootstrap of the mean difference, with
the p-value read from the bootstrap distribution. Several training seeds of one recipe against their
reference: a two-level bootstrap that resamples the seeds (whole training runs) and, within each
context, the items, so the interval carries the seed-to-seed spread as well as the items'. Every family
of tests is Holm-corrected together, and no test gives a verdict below `MIN_N` paired items: at n = 3 a
"significant" bucket is noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MIN_N = 20
ALPHA = 0.05


def mcnemar_exact(base: Sequence[bool], adapter: Sequence[bool]) -> dict[str, Any]:
    """Exact McNemar on paired pass/fail: p from Binomial(b + c, 1/2) on the discordant pairs."""
    from scipy.stats import binomtest

    b = sum(1 for x, y in zip(base, adapter, strict=True) if x and not y)  # base passed, adapter failed
    c = sum(1 for x, y in zip(base, adapter, strict=True) if y and not x)
    p = 1.0 if b + c == 0 else float(binomtest(c, b + c, 0.5).pvalue)
    return {"test": "mcnemar_exact", "n": len(base), "base_only": b, "adapter_only": c, "p": round(p, 6)}


def paired_bootstrap(diffs: Sequence[float], n: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean of paired differences, its percentile CI and a two-sided bootstrap p-value for 'no difference'."""
    d = np.asarray([x for x in diffs if x is not None], dtype=np.float64)
    if d.size == 0:
        return {"test": "paired_bootstrap", "n": 0, "mean": None, "ci95": [None, None], "p": None}
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, (n, d.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    if np.all(d == 0):
        p = 1.0
    else:
        p = float(min(1.0, 2 * min((means <= 0).mean(), (means >= 0).mean())))
    return {
        "test": "paired_bootstrap",
        "n": int(d.size),
        "mean": round(float(d.mean()), 4),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
        "p": round(p, 6),
    }


def seeds_and_items_bootstrap(
    diffs: np.ndarray, contexts: Sequence[str], n: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Macro mean of per-item differences averaged over seeds; CI and p from resampling seeds and items.

    `diffs` is seeds × items (each seed's system − its reference, per item); `contexts` names each item's
    context. A replicate draws the seeds with replacement (the same draw for every item: a seed is one
    training run) and the items within each context, and takes the macro mean over contexts. With few seeds
    the seed draw under-states their spread by (S − 1) / S (the usual small-cluster bias), not more.
    """
    d = np.asarray(diffs, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != len(contexts):
        raise ValueError(f"diffs must be seeds × items with one context per item, got {d.shape} and {len(contexts)}")
    n_seeds, n_items = d.shape
    out: dict[str, Any] = {"test": "seeds_and_items_bootstrap", "n": n_items, "seeds": n_seeds}
    if n_seeds == 0 or n_items == 0:
        return out | {"mean": None, "ci95": [None, None], "p": None, "per_context": {}}
    rng = np.random.default_rng(seed)
    seed_w = np.stack([np.bincount(rng.integers(0, n_seeds, n_seeds), minlength=n_seeds) for _ in range(n)]) / n_seeds
    groups = {c: np.flatnonzero(np.asarray(contexts) == c) for c in dict.fromkeys(contexts)}
    point, boots = [], np.zeros(n)
    for idx in groups.values():
        dc = d[:, idx]
        point.append(dc.mean())
        item_w = np.stack([np.bincount(rng.integers(0, idx.size, idx.size), minlength=idx.size) for _ in range(n)])
        boots += np.einsum("rs,si,ri->r", seed_w, dc, item_w / idx.size)
    boots /= len(groups)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    p = 1.0 if np.all(d == 0) else float(min(1.0, 2 * min((boots <= 0).mean(), (boots >= 0).mean())))
    return out | {
        "mean": round(float(np.mean(point)), 4),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
        "p": round(p, 6),
        "per_context": {c: round(float(d[:, idx].mean()), 4) for c, idx in groups.items()},
    }


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None and does not count toward the family)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    order = sorted(idx, key=lambda i: pvalues[i])  # type: ignore[arg-type, return-value]
    m = len(order)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))  # type: ignore[arg-type]
        out[i] = round(running, 6)
    return out


def verdicts(tests: list[dict[str, Any]], alpha: float = ALPHA, min_n: int = MIN_N) -> list[dict[str, Any]]:
    """Holm-correct the family in place and give each test a verdict; `effect` > 0 means adapter better."""
    adjusted = holm([t.get("p") if t.get("n", 0) >= min_n else None for t in tests])
    for t, p in zip(tests, adjusted, strict=True):
        t["p_holm"] = p
        if t.get("n", 0) < min_n:
            t["verdict"] = f"no verdict (n = {t.get('n', 0)} < {min_n})"
        elif p is None:
            t["verdict"] = "no test"
        elif p < alpha:
            t["verdict"] = "adapter better" if (t.get("effect") or 0) > 0 else "adapter worse"
        else:
            t["verdict"] = "not significant"
    return tests
