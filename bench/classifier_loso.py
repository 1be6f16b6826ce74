"""Category classifier: leave-one-source-out of the fast model, the embedding model, and blends of the two.

`emergent data train-classifier` measures each shipped model out of source; this asks what a blend of their
probabilities would score, and what a feature setting would, without writing a model. Each pool source in
turn is held out, both models are fitted on the rest plus the hand-written training half, and the held-out
source is scored at every teacher share (0: the fast model alone, 1: the embedding model alone).

    .venv/bin/python bench/classifier_loso.py [--shares 0,0.3,0.5,1] [--request-head-chars 300]

The embedding model reads MiniLM vectors from `classifier.embed_cache` (minutes cold, seconds warm).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emergent.curate.classifier_train import Trainer, load_classifier_config, score_model, scores

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "classifier.yaml"))
    parser.add_argument("--shares", default="0,0.3,0.5,1", help="embedding-model shares of the blended probabilities")
    parser.add_argument("--request-head-chars", type=int, help="override classifier.request_head_chars")
    args = parser.parse_args()
    shares = [float(x) for x in args.shares.split(",")]
    cfg, settings = load_classifier_config(args.config)
    settings.distil = False
    if args.request_head_chars is not None:
        settings.request_head_chars = args.request_head_chars
    trainer = Trainer(cfg, settings)
    fast, _ = trainer.fit(trainer.pool)
    print(f"fast model, hand-written test half: macro F1 {score_model(fast, trainer.hand_test)['macro_f1']:.3f}")
    truth: list[str] = []
    predicted: dict[float, list[str]] = {w: [] for w in shares}
    for name, away, kept in trainer.source_folds():
        fast, _ = trainer.fit(kept)
        p_fast = fast.probabilities([e["text"] for e in away])
        p_embed = np.zeros_like(p_fast)
        if any(shares):
            teacher = trainer.teacher(kept)
            p_embed = teacher.probabilities_of(trainer.vectors(away))[:, [teacher.labels.index(c) for c in fast.labels]]
        truth += [e["label"] for e in away]
        row = []
        for w in shares:
            guesses = [fast.labels[j] for j in ((1 - w) * p_fast + w * p_embed).argmax(axis=1)]
            predicted[w] += guesses
            row.append(f"{sum(g == e['label'] for g, e in zip(guesses, away, strict=True)) / len(away):.2f}")
        print(f"{name:24s} accuracy at shares {args.shares}: {' '.join(row)}", flush=True)
    print("| embedding share | LOSO macro F1 | " + " | ".join(sorted(set(truth))) + " |")
    for w in shares:
        report = scores(truth, predicted[w])
        per = " | ".join(f"{report['per_class'][c]['f1']:.2f}" for c in sorted(set(truth)))
        print(f"| {w:g} | {report['macro_f1']:.3f} | {per} |")


if __name__ == "__main__":
    main()
