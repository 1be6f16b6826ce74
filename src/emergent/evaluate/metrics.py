"""Did a context-adaptive personality emerge? Range, consistency, transitions, collapse, depth — with CIs.

Every metric takes scored turns (dicts with id, kind, turn, context = expected, predicted, probs,
profile, prompt, response) and returns {"mean", "ci95", ...}. CIs are percentile bootstraps over
items (prompts or dialogues); `paired_difference` resamples the same items for base and adapter so
the difference's CI is not inflated by item difficulty.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from emergent.evaluate.style import FEATURES, feature_vector

Turn = dict[str, Any]

# Register figures that a model without the behaviour reaches, and the control that reaches it
# (bench/eval_controls.py; bench/RESULTS.md, session 17): a reply only has to look like its context's
# register, whatever it says. They stay in eval.json and the tables as diagnostics, labelled with this,
# and out of every significance test; register fit (`range.fit`: the register plus the request's topic in
# words of its own) is the register figure that is tested. tests/evaluate/test_controls.py keeps the list true.
REACHED_BY_CONTROLS = {
    "range": "a keyword router with fixed replies reaches base's context hit rate",
    "collapse": "echoing the prompt beats base's context predictability",
    "transitions": "echoing the prompt switches register after a topic shift as soon as base does",
    "depth": "echoing the prompt, whose length is the request's, follows its complexity best",
}


def bootstrap(
    values: Sequence[float], n: int = 1000, seed: int = 0, stat: Callable[[np.ndarray], float] = np.mean
) -> dict[str, Any]:
    """{"mean": stat(values), "ci95": [lo, hi], "n": len}; NaN-free; None when there are no values."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    point = float(stat(v))
    rng = np.random.default_rng(seed)
    stats = np.array([stat(v[rng.integers(0, v.size, v.size)]) for _ in range(n)])
    stats = stats[~np.isnan(stats)]  # e.g. a correlation of a resample with no spread
    if math.isnan(point) or stats.size == 0:
        return {"mean": None, "ci95": [None, None], "n": int(v.size)}
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return {"mean": round(point, 4), "ci95": [round(float(lo), 4), round(float(hi), 4)], "n": int(v.size)}


def paired_difference(
    base: dict[str, float], adapter: dict[str, float], n: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """adapter − base over the items both have, resampled jointly."""
    keys = sorted(set(base) & set(adapter))
    diffs = [adapter[k] - base[k] for k in keys if base[k] is not None and adapter[k] is not None]
    return bootstrap(diffs, n, seed)


def prompt_turns(turns: list[Turn]) -> list[Turn]:
    return [t for t in turns if t["kind"] == "prompt"]


def range_scores(turns: list[Turn]) -> dict[str, float]:
    """Per prompt: 1 when the predicted context is the expected one."""
    return {t["id"]: float(t["predicted"] == t["context"]) for t in prompt_turns(turns)}


def fit_scores(turns: list[Turn]) -> dict[str, float]:
    """Per prompt: 1 when the reply fits the request (scorer.register_fit); prompts it cannot judge are left out."""
    return {t["id"]: float(bool(t["fit"])) for t in prompt_turns(turns) if t.get("fit") is not None}


def behavioural_range(turns: list[Turn], contexts: list[str], n: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Appropriateness: hit rate of the expected context, per context, with the confusion matrix."""
    pts = prompt_turns(turns)
    out = bootstrap([float(t["predicted"] == t["context"]) for t in pts], n, seed)
    out["per_context"] = {
        c: bootstrap([float(t["predicted"] == c) for t in pts if t["context"] == c], n, seed) for c in contexts
    }
    out["style_hit"] = bootstrap([float(bool(t.get("style_hit"))) for t in pts], n, seed)
    # Register fit (scorer.register_fit): the register plus this request's topic in words of its own.
    out["fit"] = bootstrap([float(bool(t.get("fit"))) for t in pts if t.get("fit") is not None], n, seed)
    labels = sorted(set(contexts) | {t["predicted"] for t in pts})
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for t in pts:
        if t["context"] in labels:
            m[labels.index(t["context"]), labels.index(t["predicted"])] += 1
    out["confusion"] = {"labels": labels, "rows_expected_cols_predicted": m.tolist()}
    return out


def _dialogues(turns: list[Turn], kind: str) -> dict[str, list[Turn]]:
    by: dict[str, list[Turn]] = defaultdict(list)
    for t in turns:
        if t["kind"] == kind:
            by[t["id"]].append(t)
    return {k: sorted(v, key=lambda t: t["turn"]) for k, v in by.items()}


def consistency_scores(turns: list[Turn]) -> dict[str, float]:
    """Per dialogue: the minimum over turns of P(expected context) (MT-Bench-101's min-over-turns)."""
    return {k: min(t["probs"].get(t["context"], 0.0) for t in ts) for k, ts in _dialogues(turns, "consistency").items()}


def consistency(turns: list[Turn], n: int = 1000, seed: int = 0) -> dict[str, Any]:
    dialogues = _dialogues(turns, "consistency")
    out = bootstrap(list(consistency_scores(turns).values()), n, seed)
    # The strict version: every turn predicted in the dialogue's context.
    out["all_turns_on_target"] = bootstrap(
        [float(all(t["predicted"] == t["context"] for t in ts)) for ts in dialogues.values()], n, seed
    )
    return out


def transition_scores(turns: list[Turn]) -> dict[str, dict[str, float]]:
    """Per dialogue: turns until the predicted context becomes the new one, and carry-over of the old.

    turns_to_switch = 0 when the first reply after the shift is already in the new context; a dialogue
    that never switches counts as the number of turns after the shift (censored, flagged `switched` 0).
    carry_over = mean P(old context) over the replies after the shift.
    """
    out = {}
    for k, ts in _dialogues(turns, "transition").items():
        shift = ts[0]["shift_at"]
        after = [t for t in ts if t["turn"] >= shift]
        new, old = after[0]["context"], ts[0]["context"]
        hits = [i for i, t in enumerate(after) if t["predicted"] == new]
        out[k] = {
            "turns_to_switch": float(hits[0]) if hits else float(len(after)),
            "switched": float(bool(hits)),
            "carry_over": float(np.mean([t["probs"].get(old, 0.0) for t in after])),
        }
    return out


def transitions(turns: list[Turn], n: int = 1000, seed: int = 0) -> dict[str, Any]:
    s = transition_scores(turns)
    out = bootstrap([v["turns_to_switch"] for v in s.values()], n, seed)
    out["switched"] = bootstrap([v["switched"] for v in s.values()], n, seed)
    out["carry_over"] = bootstrap([v["carry_over"] for v in s.values()], n, seed)
    return out


_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams over all responses (low = repetitive)."""
    grams = [tuple(tk[i : i + n]) for t in texts for tk in [_tokens(t)] for i in range(len(tk) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _bleu(hyp: list[str], refs: list[list[str]], max_n: int = 4) -> float:
    """Sentence BLEU-4 against several references; a zero n-gram match counts as 0.1 (Chen & Cherry 2014, method 1)."""
    if not hyp:
        return 0.0
    logp = 0.0
    for n in range(1, max_n + 1):
        h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
        best: Counter = Counter()
        for r in refs:
            for g, c in Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1)).items():
                best[g] = max(best[g], c)
        match = sum(min(c, best[g]) for g, c in h.items())
        total = sum(h.values())
        if total == 0:  # hypothesis shorter than n: this order says nothing
            continue
        logp += math.log(max(match, 0.1) / total) / max_n
    closest = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1] if refs else 0
    bp = 1.0 if len(hyp) > closest else math.exp(1 - closest / max(len(hyp), 1))
    return bp * math.exp(logp)


def self_bleu(texts: Sequence[str], max_items: int = 100, seed: int = 0) -> list[float]:
    """Each response's BLEU against all the others (high = every answer sounds the same)."""
    toks = [_tokens(t) for t in texts]
    if len(toks) > max_items:
        idx = np.random.default_rng(seed).choice(len(toks), max_items, replace=False)
        toks = [toks[i] for i in idx]
    return [_bleu(h, toks[:i] + toks[i + 1 :]) for i, h in enumerate(toks)] if len(toks) > 1 else []


def compression_ratio(texts: Sequence[str]) -> float:
    """Raw bytes / zlib bytes of all responses joined (high = repetitive)."""
    raw = "\n".join(texts).encode()
    return len(raw) / max(len(zlib.compress(raw, 9)), 1) if raw else 0.0


def context_predictability(turns: list[Turn], seed: int = 0) -> tuple[dict[str, int], float, int]:
    """Cross-validated accuracy of predicting the context from style features alone.

    Returns ({prompt id: 1 if predicted right out of fold}, chance level, folds). When every answer
    sounds the same the features carry no signal and accuracy falls to chance.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pts = prompt_turns(turns)
    y = np.array([t["context"] for t in pts])
    counts = Counter(y.tolist())
    chance = max(counts.values()) / len(y) if len(y) else 0.0
    folds = min(5, min(counts.values())) if counts else 0
    if len(counts) < 2 or folds < 2:
        return {}, chance, 0
    x = np.array([feature_vector(t["profile"]) for t in pts], dtype=np.float64)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    pred = cross_val_predict(model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return {t["id"]: int(p == t["context"]) for t, p in zip(pts, pred, strict=True)}, chance, folds


def collapse(turns: list[Turn], n: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Collapse = one voice for every context: low predictability, low distinct-n, high self-BLEU."""
    pts = prompt_turns(turns)
    texts = [t["response"] for t in pts]
    correct, chance, folds = context_predictability(turns, seed)
    sb = self_bleu(texts, seed=seed)
    return {
        "context_predictability": {
            **bootstrap(list(correct.values()), n, seed),
            "chance": round(chance, 4),
            "folds": folds,
        },
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "self_bleu": bootstrap(sb, n, seed),
        "compression_ratio": round(compression_ratio(texts), 4),
        "features": list(FEATURES),
    }


_COMPLEX = re.compile(
    r"\b(explain|why|compare|how|steps?|show|weigh|pros|cons|evaluate|implement|break down|reason|describe|write)\b",
    re.I,
)


def prompt_complexity(prompt: str) -> float:
    """Words in the prompt plus 5 per demand for explanation (explain, compare, why, steps, ...)."""
    return len(prompt.split()) + 5 * len(_COMPLEX.findall(prompt))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    from scipy.stats import rankdata

    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])  # average ranks: ties are common


def depth(turns: list[Turn], n: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Brief answers to simple prompts, detailed ones to complex prompts: Spearman(complexity, words)."""
    pts = prompt_turns(turns)
    pairs = np.array([(prompt_complexity(t["prompt"]), t["profile"]["words"]) for t in pts], dtype=np.float64)
    if len(pairs) < 3:
        return {"mean": None, "ci95": [None, None], "n": len(pairs)}
    idx = np.arange(len(pairs))
    out = bootstrap(idx, n, seed, stat=lambda s: _spearman(pairs[s.astype(int), 0], pairs[s.astype(int), 1]))
    med = np.median(pairs[:, 0])
    simple, complex_ = pairs[pairs[:, 0] <= med, 1], pairs[pairs[:, 0] > med, 1]
    out["words_simple"] = round(float(simple.mean()), 1) if simple.size else None
    out["words_complex"] = round(float(complex_.mean()), 1) if complex_.size else None
    return out
