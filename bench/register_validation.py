"""Validate the register scorer out of source: on real replies from every corpus, and on hand-labelled
generations of the suite (bench/register/labelled.jsonl, rules in bench/register/README.md).

    python bench/register_validation.py [--data ../shared/data] [--scorer written|shipped|PATH] [--write]
                                        [--json OUT.json]

`--scorer written` (default) builds the prototypes from the hand-written build set
(src/emergent/evaluate/register/written_*.jsonl); none of the replies scored here is in it, so every
figure is out of source. `--scorer shipped` scores with the prototypes the package ships now (the
before column). `--write` saves the written build as src/emergent/evaluate/prototypes.npz.
Prints per-context recall, macro recall and the confusion matrix for each set, and, on the labelled
generations, how often the scorer's fit (register + on topic + own words) agrees with the hand label.
With the second, blind reading of the same rows (bench/register/second_reading.jsonl) it prints the
labellers' agreement (Cohen's kappa) and the scorer's accuracy on the rows both readers label alike.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import eval_corpora  # noqa: E402
from emergent.evaluate.prototypes import texts_from_written  # noqa: E402
from emergent.evaluate.run import add_style  # noqa: E402
from emergent.evaluate.scorer import Prototypes, StyleScorer, build_prototypes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "bench" / "register" / "labelled.jsonl"
SECOND = ROOT / "bench" / "register" / "second_reading.jsonl"
SECOND_READ = {"dev", "test"}  # the batches second_reading.jsonl covers


def _balanced(pairs: list[tuple[str, str]], cap: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to `cap` (source, text) pairs, round-robin over sources so small sources are not drowned out."""
    by_src: dict[str, list[str]] = defaultdict(list)
    for s, t in pairs:
        by_src[s].append(t)
    for v in by_src.values():
        rng.shuffle(v)
    out: list[tuple[str, str]] = []
    while len(out) < cap and any(by_src.values()):
        for s in list(by_src):
            if by_src[s] and len(out) < cap:
                out.append((s, by_src[s].pop()))
    return out


def confusion(name: str, truth: list[str], pred: list[str], labels: list[str]) -> dict:
    """Print and return recall per true context, macro recall, accuracy and the confusion matrix."""
    cols = labels + sorted(set(pred) - set(labels))
    rows = sorted(set(truth), key=lambda c: (c not in labels, labels.index(c) if c in labels else 0, c))
    m = np.zeros((len(rows), len(cols)), dtype=int)
    for t, p in zip(truth, pred, strict=True):
        m[rows.index(t), cols.index(p)] += 1
    recall = {c: float(m[i, cols.index(c)] / m[i].sum()) if c in cols else 0.0 for i, c in enumerate(rows)}
    acc = sum(t == p for t, p in zip(truth, pred, strict=True)) / max(len(truth), 1)
    macro = float(np.mean(list(recall.values()))) if recall else 0.0
    print(f"\n## {name}: n = {len(truth)}, accuracy {acc:.1%}, macro recall {macro:.1%}")
    print("| true \\ predicted | " + " | ".join(c[:8] for c in cols) + " | n | recall |")
    print("|" + "---|" * (len(cols) + 3))
    for i, c in enumerate(rows):
        print(f"| {c} | " + " | ".join(str(v) for v in m[i]) + f" | {m[i].sum()} | {recall[c]:.0%} |")
    return {
        "n": len(truth),
        "accuracy": round(acc, 4),
        "macro_recall": round(macro, 4),
        "recall": {c: round(v, 4) for c, v in recall.items()},
        "per_context_n": {c: int(m[i].sum()) for i, c in enumerate(rows)},
        "labels_rows": rows,
        "labels_cols": cols,
        "matrix": m.tolist(),
    }


def corpora(scorer: StyleScorer, data: Path, per_context: int, rng: random.Random) -> dict:
    """Every corpus reply reader in eval_corpora (licence-restricted ones too: nothing is shipped from them)."""
    pairs = {c: _balanced(ps, per_context, rng) for c, ps in eval_corpora.load(data, permissive=False).items()}
    flat = [(c, s, t) for c, ps in pairs.items() for s, t in ps]
    preds = [r["context"] for r in scorer.score([t for _, _, t in flat])]
    out = confusion(
        "real corpus replies (no corpus is in the build set)", [c for c, _, _ in flat], preds, scorer.contexts
    )
    by_source: dict[str, list[bool]] = defaultdict(list)
    for (c, s, _), p in zip(flat, preds, strict=True):
        by_source[f"{c}/{s}"].append(p == c)
    out["per_source"] = {k: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for k, v in sorted(by_source.items())}
    print("per source: " + ", ".join(f"{k} {v['accuracy']:.0%} (n {v['n']})" for k, v in out["per_source"].items()))
    return out


def kappa(a: list, b: list) -> tuple[float, float]:
    """Observed agreement and Cohen's kappa of two labellings of the same rows."""
    n = len(a)
    if not n:
        return 0.0, float("nan")
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    return round(observed, 4), round((observed - expected) / (1 - expected), 4) if expected < 1 else float("nan")


def inter_rater(scorer: StyleScorer, path: Path, second: Path) -> dict:
    """The second reader against the first (register and fit, per half), and the scorer's register accuracy
    on the rows where both readers give the same register (a label two readers agree on is less likely noise)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    other = {r["lid"]: r for r in (json.loads(line) for line in second.read_text().splitlines() if line.strip())}
    rows = [r for r in rows if r.get("batch", "test") in SECOND_READ]  # the fresh batch has one reading
    missing = [r["lid"] for r in rows if r["lid"] not in other]
    if missing:
        raise ValueError(f"{second}: no second label for {len(missing)} rows (first: {missing[0]})")
    out: dict = {}
    for name, keep in (("test", {"test"}), ("dev", {"dev"}), ("all", {"test", "dev"})):
        sel = [r for r in rows if r.get("batch", "test") in keep]
        reg = kappa([r["register"] for r in sel], [other[r["lid"]]["register"] for r in sel])
        fit = kappa([r["fits"] for r in sel], [other[r["lid"]]["fits"] for r in sel])
        agreed = [r for r in sel if r["register"] == other[r["lid"]]["register"] != "none"]
        predicted = [s["context"] for s in scorer.score([r["response"] for r in agreed])]
        acc = sum(p == r["register"] for p, r in zip(predicted, agreed, strict=True)) / max(len(agreed), 1)
        out[name] = {
            "n": len(sel),
            "register_agreement": reg[0],
            "register_kappa": reg[1],
            "fit_agreement": fit[0],
            "fit_kappa": fit[1],
            "scorer_on_agreed": {"n": len(agreed), "accuracy": round(acc, 4)},
        }
        print(f"\n## second reader, {name}: {out[name]}")
    return out


def labelled(scorer: StyleScorer, path: Path) -> dict:
    """Register accuracy against the hand labels (replies labelled `none` are counted, not scored), and
    agreement of the scorer's fit with the hand-labelled fit: the fresh batch first (labelled after every
    choice of the scorer was made, scored once), the test half (judged three build sets), the dev half
    (used to choose the feature weight and to write the third build file), then all of them."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # The evaluation's own path (add_style): the prediction and the fit, boilerplate words included.
    scored = add_style([{k: r[k] for k in ("id", "context", "prompt", "response")} for r in rows], scorer)
    out = {}
    halves = (("fresh", {"fresh"}), ("test", {"test"}), ("dev", {"dev"}), ("all", {"fresh", "test", "dev"}))
    for name, keep in halves:
        pairs = [(r, s) for r, s in zip(rows, scored, strict=True) if r.get("batch", "test") in keep]
        if pairs:
            out[name] = _labelled_subset(f"hand-labelled suite generations, {name}", pairs, scorer)
    return out


def _labelled_subset(name: str, pairs: list[tuple[dict, dict]], scorer: StyleScorer) -> dict:
    reg = [(r["register"], s["predicted"]) for r, s in pairs if r["register"] != "none"]
    out = confusion(name, [t for t, _ in reg], [p for _, p in reg], scorer.contexts)
    out["none"] = sum(r["register"] == "none" for r, _ in pairs)
    out["by_side"] = {}
    for side in sorted({r["side"] for r, _ in pairs}):
        sp = [(r["register"], s["predicted"]) for r, s in pairs if r["side"] == side and r["register"] != "none"]
        out["by_side"][side] = {"n": len(sp), "accuracy": round(sum(t == p for t, p in sp) / max(len(sp), 1), 4)}
    fits = [(bool(r["fits"]), s["fit"]) for r, s in pairs if s["fit"] is not None]
    agree, k = kappa([a for a, _ in fits], [b for _, b in fits])
    tp = sum(a and b for a, b in fits)
    fp = sum(b and not a for a, b in fits)
    fn = sum(a and not b for a, b in fits)
    pa, pb = sum(a for a, _ in fits) / max(len(fits), 1), sum(b for _, b in fits) / max(len(fits), 1)
    out["fit"] = {
        "n": len(fits),
        "agreement": agree,
        "kappa": None if k != k else k,  # NaN when both sides are constant
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "hand_fit_rate": round(pa, 4),
        "scorer_fit_rate": round(pb, 4),
    }
    print(f"fit vs hand label: {out['fit']}")
    print(f"by side: {out['by_side']}; labelled none: {out['none']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--scorer", default="written", help="written | shipped | PATH to a prototypes .npz")
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--per-context", type=int, default=150)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.time()
    if args.scorer == "written":
        texts = texts_from_written()
        protos = build_prototypes(texts, meta={"built_from": "written"})
        print(f"built from the hand-written set: {dict(Counter({c: len(v) for c, v in texts.items()}))}")
    else:
        protos = Prototypes.load("default" if args.scorer == "shipped" else args.scorer)
    scorer = StyleScorer(protos)
    result = {"scorer": args.scorer, "contexts": scorer.contexts}
    if args.data.is_dir():
        result["corpora"] = corpora(scorer, args.data, args.per_context, random.Random(0))
    else:
        print(f"{args.data}: not found; corpus validation skipped")
    if args.labels.is_file():
        result["labelled"] = labelled(scorer, args.labels)
        if SECOND.is_file():
            result["inter_rater"] = inter_rater(scorer, args.labels, SECOND)
    if args.write:
        figures = {
            "corpora": result.get("corpora"),
            **{f"labelled_{k}": v for k, v in result.get("labelled", {}).items()},
        }
        protos.meta["validation"] = {
            k: {"accuracy": v["accuracy"], "macro_recall": v["macro_recall"], "n": v["n"]}
            for k, v in figures.items()
            if v
        }
        out = protos.save(ROOT / "src/emergent/evaluate/prototypes.npz")
        print(f"\nwrote {out} ({out.stat().st_size / 1e3:.0f} kB)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
