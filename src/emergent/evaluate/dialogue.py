"""Checked dialogues: memory, a return to an earlier topic, revision, smooth change of register, retest.

A dialogue passes when the reply to every judged user turn passes that turn's checks (`turn_checks`).
The `original` check reads all the user turns up to the judged one as the prompt, so an echo of the
conversation does not pass. A `conditioned` dialogue carries its fresh twin's checks (`fresh_id`); the
longer prompt makes only `original` stricter, by the words of the earlier turns, which a reply to the
item has no reason to use.

Figures, each with its n:
- pass rate per kind and side;
- history effect: a side with history vs the same model answering each turn alone (a `no_history`
  side; `history=False` in generate.run_items), paired by dialogue (exact McNemar, paired bootstrap).
  On memory, topic_return and self_correction the judged turn lacks what it depends on, so the
  no-history control fails by construction: a history effect near 0 there means no memory was used;
- transition cost: the fresh twin's pass rate minus the conditioned item's, paired (0 = a smooth
  transition loses nothing, the Persistent Personas comparison);
- retest consistency (PICon): of the factual questions answered right at turn 0, the share answered
  right again when asked after other turns; beside it the agreement, both asks pass or both fail with
  the same normalised reply (a constant reply agrees with itself, so agreement alone proves nothing);
- adapter (or prompted) − base per kind, paired.
The paired tests form their own family, Holm-corrected together (not the primary metric's family).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emergent.evaluate import stats
from emergent.evaluate.checks import score_reply
from emergent.evaluate.checks.text import normalise
from emergent.evaluate.metrics import bootstrap
from emergent.evaluate.suite import DIALOGUE_KINDS, Item

Row = dict[str, Any]
HISTORY_KINDS = ("memory", "topic_return", "self_correction")  # the no-history control must lose on these
NO_HISTORY = "no_history"  # the base model without history; "<side>_no_history" pairs with <side>
DEFINITIONS = {
    "pass_rate": "share of dialogues whose replies to every judged turn pass that turn's checks",
    "history_effect": "pass rate with history − pass rate of the same model answering each turn alone, paired",
    "transition_cost": "fresh twin's pass rate − the same item's pass rate after turns in another register, paired",
    "retest_consistency": "of the retest questions answered right the first time, the share answered right again",
    "retest_agreement": "share of retest dialogues whose two answers both pass, or both fail with the same "
    "normalised reply",
}


def judged_turns(item: Item) -> list[int]:
    return [t for t, checks in enumerate(item.turn_checks) if checks]


def _replies(rows: list[Row]) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for r in rows:
        out.setdefault(r["id"], {})[int(r.get("turn", 0))] = r.get("response") or ""
    return out


def score_dialogue(item: Item, replies: dict[int, str]) -> dict[str, Any] | None:
    """{kind, passed, turns: {t: verdict}}; None when a judged turn has no reply."""
    turns = judged_turns(item)
    if any(t not in replies for t in turns):
        return None
    verdicts = {}
    for t in turns:
        prompt = "\n".join(item.turns[: t + 1])
        v = score_reply(item.turn_checks[t], replies[t], prompt)
        verdicts[t] = {"passed": v.passed, "score": round(v.score, 4), "checks": v.checks, "reply": replies[t]}
    return {"kind": item.kind, "passed": all(v["passed"] for v in verdicts.values()), "turns": verdicts}


def verdicts(items: list[Item], rows: list[Row]) -> dict[str, dict[str, Any]]:
    """{dialogue id: verdict} for one side's rows; dialogues with a judged turn unanswered are left out."""
    by_id = _replies(rows)
    out = {}
    for it in items:
        if it.kind in DIALOGUE_KINDS and it.turn_checks:
            v = score_dialogue(it, by_id.get(it.id, {}))
            if v is not None:
                out[it.id] = v
    return out


def fresh_verdicts(items: list[Item], rows: list[Row]) -> dict[str, bool]:
    """{single-turn item id: passed} for the twins the conditioned dialogues name (scored as the primary does)."""
    wanted = {it.meta.get("fresh_id") for it in items if it.kind == "conditioned"}
    by_id = _replies(rows)
    out = {}
    for it in items:
        if it.id in wanted and it.checks and len(it.turns) - 1 in by_id.get(it.id, {}):
            out[it.id] = score_reply(it.checks, by_id[it.id][len(it.turns) - 1], it.turns[-1]).passed
    return out


def _asks(v: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return v["turns"][min(v["turns"])], v["turns"][max(v["turns"])]


def retest_agrees(v: dict[str, Any]) -> bool:
    """Both asks pass, or both fail with the same normalised reply."""
    first, last = _asks(v)
    if first["passed"] and last["passed"]:
        return True
    same = normalise(first["reply"]) == normalise(last["reply"]) != ""
    return not first["passed"] and not last["passed"] and same


def _rate(values: list[float], n: int, seed: int) -> dict[str, Any]:
    return bootstrap(values, n, seed)


def _paired(
    a: dict[str, bool], b: dict[str, bool], ids: list[str], n: int, seed: int, names: tuple[str, str]
) -> dict[str, Any]:
    """a − b on the ids both have: both rates, the paired bootstrap of the difference, exact McNemar."""
    ids = [i for i in ids if i in a and i in b]
    t = stats.mcnemar_exact([b[i] for i in ids], [a[i] for i in ids])
    only_b, only_a = t.pop("base_only"), t.pop("adapter_only")
    t.update({f"{names[1]}_only": only_b, f"{names[0]}_only": only_a})
    boot = stats.paired_bootstrap([float(a[i]) - float(b[i]) for i in ids], n, seed)
    return {
        "n": len(ids),
        names[0]: round(float(np.mean([a[i] for i in ids])), 4) if ids else None,
        names[1]: round(float(np.mean([b[i] for i in ids])), 4) if ids else None,
        "difference": boot,
        "mcnemar": t,
    }


def _history_pairs(sides: list[str], pairs: dict[str, str] | None) -> dict[str, str]:
    if pairs is not None:
        return {w: wo for w, wo in pairs.items() if w in sides and wo in sides}
    out = {"base": NO_HISTORY} if "base" in sides and NO_HISTORY in sides else {}
    out.update({s.removesuffix(f"_{NO_HISTORY}"): s for s in sides if s.endswith(f"_{NO_HISTORY}")})
    return {w: wo for w, wo in out.items() if w in sides}


def _family(tests: list[dict[str, Any]], alpha: float = stats.ALPHA, min_n: int = stats.MIN_N) -> list[dict]:
    """Holm-correct the dialogue tests together; `effect` > 0 means the first-named condition is better."""
    adjusted = stats.holm([t["p"] if t["n"] >= min_n else None for t in tests])
    for t, p in zip(tests, adjusted, strict=True):
        t["p_holm"] = p
        if t["n"] < min_n:
            t["verdict"] = f"no verdict (n = {t['n']} < {min_n})"
        elif p is None:
            t["verdict"] = "no test"
        elif p < alpha:
            t["verdict"] = f"{t['better']} better" if t["effect"] > 0 else f"{t['better']} worse"
        else:
            t["verdict"] = "not significant"
    return tests


def dialogues(
    items: list[Item],
    rows_by_side: dict[str, list[Row]],
    n: int = 1000,
    seed: int = 0,
    history_pairs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """eval.json's `dialogues`: pass rates per kind and side, history effect, transition cost, retest consistency.

    `history_pairs` {side with history: the same side without}; default: base ↔ "no_history" and
    every "<side>_no_history" ↔ <side>, where both are in `rows_by_side`.
    """
    dial = [it for it in items if it.kind in DIALOGUE_KINDS and it.turn_checks]
    kinds = [k for k in DIALOGUE_KINDS if any(it.kind == k for it in dial)]
    per_side = {side: verdicts(dial, rows) for side, rows in rows_by_side.items()}
    out: dict[str, Any] = {"definitions": DEFINITIONS, "kinds": {k: sum(it.kind == k for it in dial) for k in kinds}}
    tests: list[dict[str, Any]] = []
    sides: dict[str, Any] = {}
    for side, v in per_side.items():
        s: dict[str, Any] = {}
        for k in kinds:
            got = [x["passed"] for x in v.values() if x["kind"] == k]
            s[k] = {**_rate([float(p) for p in got], n, seed), "missing": out["kinds"][k] - len(got)}
        retests = [x for x in v.values() if x["kind"] == "retest"]
        s["retest_consistency"] = _rate(
            [float(_asks(x)[1]["passed"]) for x in retests if _asks(x)[0]["passed"]], n, seed
        )
        s["retest_agreement"] = _rate([float(retest_agrees(x)) for x in retests], n, seed)
        fresh = fresh_verdicts(items, rows_by_side[side])
        pairs = {
            it.id: it.meta["fresh_id"]
            for it in dial
            if it.kind == "conditioned" and it.id in v and "fresh_id" in it.meta
        }
        twin = {cid: fresh[fid] for cid, fid in pairs.items() if fid in fresh}
        cond = {cid: v[cid]["passed"] for cid in twin}
        cost = _paired(twin, cond, sorted(twin), n, seed, ("fresh", "conditioned"))
        cost["missing_twins"] = len(pairs) - len(twin)
        s["transition_cost"] = cost
        if cost["n"]:
            t = dict(cost["mcnemar"], metric="transition_cost", side=side, context="conditioned", better="fresh")
            t["effect"] = t["fresh_only"] - t["conditioned_only"]
            tests.append(t)
        sides[side] = s
    out["sides"] = sides
    history: dict[str, Any] = {}
    for with_side, without in _history_pairs(list(per_side), history_pairs).items():
        a, b = per_side[with_side], per_side[without]
        h: dict[str, Any] = {"without": without}
        for k in kinds:
            ids = sorted(i for i in a if a[i]["kind"] == k)
            h[k] = _paired({i: a[i]["passed"] for i in a}, {i: b[i]["passed"] for i in b}, ids, n, seed,
                           ("with_history", "without_history"))  # fmt: skip
            t = dict(h[k]["mcnemar"], metric="history_effect", side=with_side, context=k, better="history")
            t["effect"] = t["with_history_only"] - t["without_history_only"]
            tests.append(t)
        history[with_side] = h
    out["history_effect"] = history
    diff: dict[str, Any] = {}
    if "base" in per_side:
        b = per_side["base"]
        for side in per_side:
            if side == "base" or side == NO_HISTORY or side.endswith(f"_{NO_HISTORY}"):
                continue
            a = per_side[side]
            diff[side] = {}
            for k in kinds:
                ids = sorted(i for i in a if a[i]["kind"] == k)
                diff[side][k] = _paired({i: a[i]["passed"] for i in a}, {i: b[i]["passed"] for i in b}, ids, n,
                                        seed, (side, "base"))  # fmt: skip
                t = dict(diff[side][k]["mcnemar"], metric="dialogue_pass_rate", side=side, context=k, better=side)
                t["effect"] = t[f"{side}_only"] - t["base_only"]
                tests.append(t)
    out["difference"] = diff
    out["tests"] = {"correction": "holm", "alpha": stats.ALPHA, "min_n_for_verdict": stats.MIN_N,
                    "family": _family(tests)}  # fmt: skip
    return out
