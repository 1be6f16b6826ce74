"""Near-duplicate dedup: ours vs a datasketch MinHashLSH loop vs datatrove's 4-stage MinHash pipeline.

Same 100k real records (ETHICS scenarios + IBM Debater arguments from ../shared/data), same word
5-gram shingles of the normalised text, threshold 0.8, 128 permutations (ours and datatrove: 16 bands
x 8 rows; datasketch picks 9 x 13 itself; datatrove uses its own word tokenizer). Ours is the build's
near-dup step end to end: normalise, numpy MinHash, band keys, LSH, exact-Jaccard verification of the
candidates, union-find. Prints docs/s and the ratios (and the load average: the baselines suffer more
from a busy machine than ours), then precision / recall / F1 against exact Jaccard on records with
planted near-duplicates.

    .venv/bin/python bench/dedup.py [--n 100000] [--skip-datatrove] [--planted 2000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import random
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from itertools import combinations
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from emergent.curate.dedup import all_band_keys, keep_rank, optimal_bands, plan_near
from emergent.curate.minhash import shingles, signatures
from emergent.text import normalise

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NGRAM, NUM_PERM, THRESHOLD, FN_WEIGHT = 5, 128, 0.8, 0.95


def real_texts(n: int) -> list[str]:
    """Short real records: ETHICS scenarios then IBM Debater arguments, in file order."""
    texts: list[str] = []
    for name in ("cm_test", "deontology_train", "justice_train", "virtue_train"):
        with open(DATA / "ethics" / f"{name}.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                text = row.get("input") or row.get("scenario") or ""
                if row.get("excuse"):
                    text += " " + row["excuse"]
                texts.append(text)
    with zipfile.ZipFile(DATA / "ibm-debater" / "arg_quality_rank_30k.zip") as z:
        with z.open("arg_quality_rank_30k.csv") as f:
            for row in csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")):
                texts.append(row["argument"])
    return texts[:n]


def _sig_chunk(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    bands, rows = optimal_bands(THRESHOLD, NUM_PERM, FN_WEIGHT)
    sig = signatures(texts, NGRAM, NUM_PERM)
    return sig, all_band_keys(sig, bands, rows)


def ours(texts: list[str], workers: int = 1, exact: bool = True) -> tuple[np.ndarray, float]:
    """Normalise, MinHash, band keys, LSH + verification (exact Jaccard, or the signature estimate) +
    union-find, as the build runs them. Returns (keeper, seconds)."""
    start = time.perf_counter()
    norm = [normalise(t) for t in texts]
    chunks = [norm[i : i + 8192] for i in range(0, len(norm), 8192)]
    if workers > 1:
        with get_context("forkserver").Pool(workers) as pool:  # as the build's pool
            parts = pool.map(_sig_chunk, chunks)
    else:
        parts = [_sig_chunk(c) for c in chunks]
    sig = np.concatenate([p[0] for p in parts])
    keys = np.concatenate([p[1] for p in parts])
    rank = keep_rank(np.zeros(len(texts), np.int64), np.array([len(t) for t in norm]), ["source_order", "longest"])
    texts_of = (lambda rows: [norm[i] for i in rows]) if exact else None
    keeper = plan_near(keys, sig, rank, np.arange(len(texts)), THRESHOLD, texts=texts_of, ngram=NGRAM)
    return keeper, time.perf_counter() - start


def datasketch_loop(texts: list[str]) -> tuple[set[tuple[int, int]], float]:
    """The loop people write today: MinHash per doc, query then insert. Returns (candidate pairs, seconds)."""
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    pairs = set()
    for i, t in enumerate(texts):
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode() for s in shingles(normalise(t), NGRAM)])
        for j in lsh.query(m):
            pairs.add((j, i))
        lsh.insert(i, m)
    return pairs, time.perf_counter() - start


def datatrove_pipeline(texts: list[str], workdir: Path) -> tuple[int, float, dict[str, float]]:
    """datatrove's local 4-stage MinHash (signatures, buckets, clusters, filter), 1 task each. Returns (removed, seconds, stage seconds)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    src = workdir / "input"
    src.mkdir(parents=True)
    with open(src / "docs.jsonl", "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"text": t, "id": str(i)}) + "\n")
    bands, rows = optimal_bands(THRESHOLD, NUM_PERM, FN_WEIGHT)
    config = MinhashConfig(
        hash_config=HashConfig(precision=64), num_buckets=bands, hashes_per_bucket=rows, n_grams=NGRAM
    )
    sigs, buckets, clusters, out = (workdir / x for x in ("sigs", "buckets", "clusters", "out"))
    stages = {
        "signatures": [JsonlReader(str(src)), MinhashDedupSignature(output_folder=str(sigs), config=config)],
        "buckets": [MinhashDedupBuckets(input_folder=str(sigs), output_folder=str(buckets), config=config)],
        "cluster": [MinhashDedupCluster(input_folder=str(buckets), output_folder=str(clusters), config=config)],
        "filter": [
            JsonlReader(str(src)),
            MinhashDedupFilter(input_folder=str(clusters)),
            JsonlWriter(str(out)),
        ],
    }
    tasks = {"signatures": 1, "buckets": bands, "cluster": 1, "filter": 1}
    seconds = {}
    for name, pipeline in stages.items():
        start = time.perf_counter()
        # One worker: with 2 workers the bucket stage hung for > 10 minutes on this machine.
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks[name], workers=1, logging_dir=str(workdir / f"logs-{name}")
        ).run()
        seconds[name] = time.perf_counter() - start
    kept = sum(1 for f in out.rglob("*.jsonl*") for _ in _open_lines(f))
    return len(texts) - kept, sum(seconds.values()), seconds


def _open_lines(path: Path):
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        yield from f


def planted(n_base: int, seed: int = 0) -> list[str]:
    """Longer real texts (GSM8K question + answer) and planted variants: word edits, sentence swaps,
    whitespace changes, an appended sentence, and heavy rewrites (mostly below the threshold)."""
    rng = random.Random(seed)
    base = []
    with open(DATA / "gsm8k" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            base.append(r["question"] + "\n" + r["answer"])
            if len(base) == n_base:
                break
    vocab = sorted({w for t in base[:200] for w in t.split()})
    docs = list(base)
    for t in base:
        words = t.split()
        kind = rng.choice(["edit", "swap", "space", "append", "heavy", "none"])
        if kind == "edit":
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            docs.append(" ".join(words))
        elif kind == "swap":
            sents = t.split(". ")
            if len(sents) > 2:
                i = rng.randrange(len(sents) - 1)
                sents[i], sents[i + 1] = sents[i + 1], sents[i]
            docs.append(". ".join(sents))
        elif kind == "space":
            docs.append(t.replace(" ", "  \n", 3).replace(".", " .", 2))
        elif kind == "append":
            docs.append(t + " Let me know if you need more help.")
        elif kind == "heavy":
            for _ in range(max(1, len(words) // 6)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            docs.append(" ".join(words))
    return docs


def exact_truth(texts: list[str]) -> set[tuple[int, int]]:
    """Every pair with exact shingle-set Jaccard >= THRESHOLD, by prefix filtering (complete, no sampling):
    with shingles ordered rarest first, two sets at Jaccard >= t share one of the first
    |A| - ceil(t |A|) + 1 shingles of each."""
    sets = [set(shingles(normalise(t), NGRAM)) for t in texts]
    freq = defaultdict(int)
    for s in sets:
        for g in s:
            freq[g] += 1
    index = defaultdict(list)
    for i, s in enumerate(sets):
        prefix = len(s) - math.ceil(THRESHOLD * len(s) - 1e-9) + 1
        for g in sorted(s, key=lambda g: (freq[g], g))[:prefix]:
            index[g].append(i)
    cand = {p for ids in index.values() for p in combinations(ids, 2)}
    return {(i, j) for i, j in cand if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= THRESHOLD}


def prf(pred: set, truth: set) -> tuple[float, float, float]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def cluster_pairs(keeper: np.ndarray) -> set[tuple[int, int]]:
    groups = defaultdict(list)
    for i, k in enumerate(keeper):
        groups[int(k)].append(i)
    return {p for g in groups.values() if len(g) > 1 for p in combinations(sorted(g), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--planted", type=int, default=2000)
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--skip-datasketch", action="store_true")
    args = ap.parse_args()

    texts = real_texts(args.n)
    print(
        f"{len(texts):,} real records, mean {np.mean([len(t) for t in texts]):.0f} chars; word {NGRAM}-grams, {NUM_PERM} perms, threshold {THRESHOLD}, bands x rows = {optimal_bands(THRESHOLD, NUM_PERM, FN_WEIGHT)}"
    )
    print("load average (1, 5, 15 min) at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    keeper, t_ours = ours(texts, workers=1)
    print(
        f"ours (1 process):   {t_ours:7.1f} s  {len(texts) / t_ours:10,.0f} docs/s  removed {int(np.sum(keeper != np.arange(len(texts)))):,}"
    )
    keeper2, t_ours2 = ours(texts, workers=2)
    assert (keeper2 == keeper).all()
    print(f"ours (2 processes): {t_ours2:7.1f} s  {len(texts) / t_ours2:10,.0f} docs/s")
    if not args.skip_datasketch:
        pairs, t_ds = datasketch_loop(texts)
        flagged = len({j for _, j in pairs})
        print(
            f"datasketch loop:    {t_ds:7.1f} s  {len(texts) / t_ds:10,.0f} docs/s  flagged {flagged:,}   ours is {t_ds / t_ours:.1f}x (1 proc), {t_ds / t_ours2:.1f}x (2 procs)"
        )
    if not args.skip_datatrove:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                removed, t_dt, stages = datatrove_pipeline(texts, Path(tmp))
            detail = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
            print(
                f"datatrove 4-stage:  {t_dt:7.1f} s  {len(texts) / t_dt:10,.0f} docs/s  removed {removed:,} ({detail})   ours is {t_dt / t_ours:.1f}x (1 proc), {t_dt / t_ours2:.1f}x (2 procs)"
            )
        except ImportError as err:
            print(f"datatrove: not installed ({err}); pip install 'datatrove[processing]==0.10.1'")

    print("load average (1, 5, 15 min) after the speed runs: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    docs = planted(args.planted)
    truth = exact_truth(docs)
    print(f"planted near-duplicates: {len(docs):,} docs, {len(truth):,} pairs with exact Jaccard >= {THRESHOLD}")
    for exact, label in ((True, "exact-Jaccard verification"), (False, "signature verification ")):
        keeper, _ = ours(docs, exact=exact)
        p, r, f1 = prf(cluster_pairs(keeper), truth)
        print(f"  ours (LSH + {label} + union-find): precision {p:.3f} recall {r:.3f} F1 {f1:.3f}")
    if not args.skip_datasketch:
        pairs, _ = datasketch_loop(docs)
        p, r, f1 = prf(pairs, truth)
        print(
            f"  datasketch LSH candidates:                               precision {p:.3f} recall {r:.3f} F1 {f1:.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
