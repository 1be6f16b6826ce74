"""Category classifier: speed of the default path and of the opt-in embedding path, and
accuracy of both on the hand-written test half (never trained on).

Speed is conversations per CPU-second with every thread pool pinned to one thread, so it is one
core's rate even while other jobs share the machine (the wall-clock rate is printed beside it;
their gap shows the contention). Texts are real conversations of configs/classifier.yaml's corpora.
Leave-one-source-out accuracy is measured by `emergent data train-classifier` (it needs refits) and
read here from the shipped metrics file.

    .venv/bin/python bench/classify.py [--speed-n 20000] [--embed-speed-n 300]
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy/torch load: one core is the claim
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from emergent.curate.classifier import DEFAULT_MODEL, load_default_classifier  # noqa: E402
from emergent.curate.classifier_data import read_handwritten  # noqa: E402
from emergent.curate.classifier_train import labelled_examples, load_classifier_config, score_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLD_START = (
    "import time; t = time.perf_counter(); from emergent.curate.classifier import load_default_classifier; "
    "load_default_classifier(); print(f'{time.perf_counter() - t:.2f}')"
)


def rate(fn, texts: list[str]) -> tuple[float, float]:
    """(texts per CPU-second, texts per wall-second) of one call over all texts."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn(texts)
    return len(texts) / (time.process_time() - c0), len(texts) / (time.perf_counter() - w0)


def row(name: str, report: dict) -> str:
    per = " ".join(f"{k[:5]} {v['recall']:.2f}" for k, v in report["per_class"].items())
    return f"| {name} | {report['macro_f1']:.3f} | {report['accuracy']:.1%} | {per} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "classifier.yaml"))
    parser.add_argument("--speed-n", type=int, default=20000, help="conversations for the default-path speed run")
    parser.add_argument("--embed-speed-n", type=int, default=300, help="conversations for the embedding speed run")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores (contention lowers wall-clock rates)")
    cfg, _ = load_classifier_config(args.config)
    examples, _ = labelled_examples(cfg, skip={"self_instruct"})
    rng = np.random.default_rng(0)
    speed_texts = [examples[i]["text"] for i in rng.integers(0, len(examples), args.speed_n)]
    chars = sum(map(len, speed_texts)) / len(speed_texts)

    cold = subprocess.run(
        [sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True, env={**os.environ}
    ).stdout.strip()
    shipped = load_default_classifier()
    shipped.predict(speed_texts[:100])  # warm-up
    cpu, wall = rate(shipped.predict, speed_texts)
    print(f"cold start (fresh python: import + load_default_classifier): {cold} s")
    print(f"default path: {cpu:,.0f} conversations per CPU-second (wall clock {wall:,.0f}/s; mean {chars:,.0f} chars)")

    from emergent.curate.classifier_embed import EmbeddingClassifier

    head = EmbeddingClassifier.load(DEFAULT_MODEL.with_name("embedding_head.npz"))
    head.predict(speed_texts[:8])
    e_cpu, e_wall = rate(head.predict, speed_texts[: args.embed_speed_n])
    print(
        f"embedding (opt-in, --embeddings): {e_cpu:,.1f} per CPU-second (wall {e_wall:,.1f}/s); ratio {cpu / e_cpu:,.0f}x"
    )

    test = read_handwritten(split="test")
    print("\n| model | hand-written test macro F1 | accuracy | recall per bucket |\n|---|---|---|---|")
    print(row("static MiniLM pieces + linear head (default)", score_model(shipped, test)))
    print(row("MiniLM sentence embeddings + linear head (opt-in)", score_model(head, test)))
    metrics = json.loads(DEFAULT_MODEL.with_name("classifier.metrics.json").read_text())
    if "leave_one_source_out" in metrics:
        loso = metrics["leave_one_source_out"]
        print(f"\nleave-one-source-out (from {DEFAULT_MODEL.with_name('classifier.metrics.json').name}):")
        print(f"macro F1 {loso['macro_f1']:.3f}, accuracy {loso['accuracy']:.1%}")
        for name, m in loso["per_class"].items():
            print(f"  {name}: recall {m['recall']:.3f}, F1 {m['f1']:.3f} ({m['support']})")
    if "leave_one_source_out_teacher" in metrics:
        t = metrics["leave_one_source_out_teacher"]
        print(f"embedding model, leave-one-source-out: macro F1 {t['macro_f1']:.3f}, accuracy {t['accuracy']:.1%}")


if __name__ == "__main__":
    main()
