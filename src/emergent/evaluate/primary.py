"""The pre-declared primary metric: the appropriate-response rate.

The share of suite items whose reply passes every check of its item (the content: the right number,
code that passes its tests, the right call with the right arguments, the named elements, ...) and, where
those checks the request's own words can meet, is not the side's reply to another family of requests with
this one's words put in (evaluate/checks/template.py),
macro-averaged over contexts so each context weighs the same whatever its item count. Items without
checks do not enter it (they feed the secondary, register-based metrics) and are counted. An item with
no reply for a side is left out of that side's figures and counted as missing.

CIs: a bootstrap that resamples items within each context (the macro average's own structure); the
adapter − base difference resamples the items both sides answered, jointly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emergent.evaluate import stats
from emergent.evaluate.checks import REQUEST_WORD_CHECKS, score_reply, template
from emergent.evaluate.metrics import bootstrap
from emergent.evaluate.suite import Item

NAME = "appropriate_response_rate"
DEFINITION = (
    "share of checked suite items whose reply passes all its checks, macro-averaged over contexts "
    "(each context weighs the same)"
)

Row = dict[str, Any]
# Sides that are not trained adapters: the base model, prompted or not, and the no-history control.
REFERENCE_SIDES = ("base", "prompted", "no_history")


def verdicts(items: list[Item], rows: list[Row]) -> dict[str, dict[str, Any]]:
    """{item id: {context, passed, score, checks}} for one side's rows; the last turn's reply is judged."""
    last: dict[str, Row] = {}
    for r in rows:
        if r["id"] not in last or r.get("turn", 0) >= last[r["id"]].get("turn", 0):
            last[r["id"]] = r
    out = {}
    open_ended = {}
    for it in items:
        r = last.get(it.id)
        if not it.checks or r is None or r.get("turn", 0) != len(it.turns) - 1:
            continue
        v = score_reply(it.checks, r.get("response") or "", it.turns[-1])
        out[it.id] = {"context": it.contexts[-1], "passed": v.passed, "score": v.score, "checks": v.checks}
        if any(c["type"] in REQUEST_WORD_CHECKS for c in it.checks):
            open_ended[it.id] = (r.get("response") or "", it.turns[-1], it.family)
    # Side by side: the reply to another family of requests with this one's words put in fails.
    repeated = template.templates(open_ended)
    for i in open_ended:
        other = repeated.get(i)
        detail = f"the reply to {other[0]} with this request's words (Jaccard {other[1]:.2f})" if other else "its own"
        check = {"type": "not_template", "passed": other is None, "score": float(other is None), "detail": detail}
        out[i]["checks"] = [*out[i]["checks"], check]
        if other:
            out[i].update(passed=False, score=0.0)
    return out


def _macro(by_context: dict[str, np.ndarray]) -> float | None:
    means = [v.mean() for v in by_context.values() if v.size]
    return float(np.mean(means)) if means else None


def _stratified(by_context: dict[str, np.ndarray], n: int, seed: int) -> dict[str, Any]:
    point = _macro(by_context)
    total = int(sum(v.size for v in by_context.values()))
    if point is None:
        return {"mean": None, "ci95": [None, None], "n": 0}
    rng = np.random.default_rng(seed)
    boots = [
        np.mean([v[rng.integers(0, v.size, v.size)].mean() for v in by_context.values() if v.size]) for _ in range(n)
    ]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": round(point, 4), "ci95": [round(float(lo), 4), round(float(hi), 4)], "n": total}


def primary(
    items: list[Item], rows_by_side: dict[str, list[Row]], n: int = 1000, seed: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]:
    """(eval.json's `primary`, its paired tests (not yet Holm-corrected), {side: {item id: verdict}})."""
    checked = [it for it in items if it.checks]
    contexts = list(dict.fromkeys(it.contexts[-1] for it in checked))
    per_side = {side: verdicts(checked, rows) for side, rows in rows_by_side.items()}
    out: dict[str, Any] = {
        "name": NAME,
        "definition": DEFINITION,
        "contexts": contexts,
        "items_checked": len(checked),
        # Checked dialogues (turn_checks) are scored apart, by evaluate/dialogue.py.
        "items_without_checks": sum(1 for it in items if not it.checks and not it.turn_checks),
    }
    for side, v in per_side.items():
        by_ctx = {c: np.array([float(x["passed"]) for x in v.values() if x["context"] == c]) for c in contexts}
        out[side] = {
            **_stratified(by_ctx, n, seed),
            "missing": len(checked) - len(v),
            "per_context": {c: bootstrap(by_ctx[c], n, seed) for c in contexts if by_ctx[c].size},
            "graded": _stratified(
                {c: np.array([x["score"] for x in v.values() if x["context"] == c]) for c in contexts}, n, seed
            ),
        }
    adapters = [s for s in per_side if s not in REFERENCE_SIDES and out[s]["mean"] is not None]
    if len(adapters) > 1:  # several adapters (e.g. training seeds) scored in one file: how much they vary
        means = np.array([out[s]["mean"] for s in adapters])
        out["spread"] = {
            "sides": adapters,
            "mean": round(float(means.mean()), 4),
            "sd": round(float(means.std(ddof=1)), 4),
            "min": round(float(means.min()), 4),
            "max": round(float(means.max()), 4),
            "n": len(adapters),
        }
    tests: list[dict[str, Any]] = []
    if "base" in per_side and "adapter" in per_side:
        b, a = per_side["base"], per_side["adapter"]
        shared = [i for i in b if i in a]
        diff_ctx = {
            c: np.array([float(a[i]["passed"]) - float(b[i]["passed"]) for i in shared if b[i]["context"] == c])
            for c in contexts
        }
        out["difference"] = {**_stratified(diff_ctx, n, seed), "per_context": {}}
        for c in contexts:
            ids = [i for i in shared if b[i]["context"] == c]
            if not ids:
                continue
            t = stats.mcnemar_exact([b[i]["passed"] for i in ids], [a[i]["passed"] for i in ids])
            t.update(metric="primary", context=c, effect=t["adapter_only"] - t["base_only"])
            g = stats.paired_bootstrap([a[i]["score"] - b[i]["score"] for i in ids], n, seed)
            g.update(metric="graded_score", context=c, effect=g["mean"])
            tests += [t, g]
            out["difference"]["per_context"][c] = {
                "mean": round(float(diff_ctx[c].mean()), 4),
                "n": len(ids),
                "mcnemar": t,
                "graded": g,
            }
    return out, tests, per_side
