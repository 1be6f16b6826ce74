"""Build the shipped style-scorer prototypes from the real corpora and validate them on held-out answers.

    python bench/eval_scorer.py [--data ../shared/data] [--write]

Split: every assistant text is assigned to build or held-out by a hash of its text (20 % held out),
so the held-out answers were never seen by the centroids or the head. A second check scores answers
from sources never used to build (CC BY-NC corpora that cannot be shipped): out-of-source accuracy.
Prints accuracy, per-context recall and the confusion matrix; `--write` saves
src/emergent/evaluate/prototypes.npz.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import eval_corpora  # noqa: E402
from emergent.evaluate.scorer import StyleScorer, build_prototypes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _held_out(text: str) -> bool:
    return int(hashlib.blake2b(text.encode(), digest_size=4).hexdigest(), 16) % 5 == 0


def _balanced(pairs: list[tuple[str, str]], cap: int, rng: random.Random) -> list[str]:
    """Up to `cap` texts, round-robin over sources so small sources are not drowned out."""
    by_src: dict[str, list[str]] = defaultdict(list)
    for s, t in pairs:
        by_src[s].append(t)
    for v in by_src.values():
        rng.shuffle(v)
    out: list[str] = []
    while len(out) < cap and any(by_src.values()):
        for s in list(by_src):
            if by_src[s] and len(out) < cap:
                out.append(by_src[s].pop())
    return out


def report(name: str, scorer: StyleScorer, texts: dict[str, list[str]]) -> float:
    ctxs = scorer.contexts
    flat = [(c, t) for c, ts in texts.items() for t in ts]
    preds = [r["context"] for r in scorer.score([t for _, t in flat])]
    cm = np.zeros((len(ctxs), len(ctxs)), dtype=int)
    for (c, _), p in zip(flat, preds, strict=True):
        cm[ctxs.index(c), ctxs.index(p)] += 1
    acc = float(np.trace(cm) / cm.sum())
    recall = {c: cm[i, i] / max(cm[i].sum(), 1) for i, c in enumerate(ctxs) if cm[i].sum()}
    macro = float(np.mean(list(recall.values())))
    print(f"\n## {name}: {len(flat)} answers, accuracy {acc:.1%}, macro recall {macro:.1%}")
    print("| true \\ predicted | " + " | ".join(c[:8] for c in ctxs) + " | recall |")
    print("|" + "---|" * (len(ctxs) + 2))
    for i, c in enumerate(ctxs):
        if cm[i].sum():
            print(f"| {c} | " + " | ".join(str(v) for v in cm[i]) + f" | {recall[c]:.0%} |")
    return acc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--build-per-context", type=int, default=600)
    ap.add_argument("--test-per-context", type=int, default=150)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rng = random.Random(0)
    t0 = time.time()
    shipped = eval_corpora.load(args.data, permissive=True)
    build, test = {}, {}
    for c, pairs in shipped.items():
        build[c] = _balanced([p for p in pairs if not _held_out(p[1])], args.build_per_context, rng)
        test[c] = _balanced([p for p in pairs if _held_out(p[1])], args.test_per_context, rng)
    sources = {c: sorted({s for s, _ in pairs}) for c, pairs in shipped.items()}
    protos = build_prototypes(build, meta={"sources": sources, "built_from": "../shared/data (permissive licences)"})
    print(f"built prototypes from {sum(map(len, build.values()))} answers in {time.time() - t0:.0f} s")
    scorer = StyleScorer(protos)
    acc = report("held-out answers, same sources", scorer, test)
    everything = eval_corpora.load(args.data, permissive=False)
    extra = {}
    for c, pairs in everything.items():
        names = set(sources[c])
        new = [p for p in pairs if p[0] not in names]
        if new:
            extra[c] = _balanced(new, args.test_per_context, rng)
    report(
        "answers from sources never used to build (CC BY-NC: codealpaca, esconv, aesopfables, commonsense)",
        scorer,
        extra,
    )
    protos.meta["held_out_accuracy"] = round(acc, 4)
    if args.write:
        out = protos.save(ROOT / "src/emergent/evaluate/prototypes.npz")
        print(f"\nwrote {out} ({out.stat().st_size / 1e3:.0f} kB)")
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
