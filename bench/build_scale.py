"""The full `data build` at scale: N conversations made from real records (../shared/data) with
perturbations — exact copies (case/spacing), near copies (one word changed), and rewritten variants
(a quarter of the words replaced) — through ingest, filters, decontamination, categories, exact and
near dedup, composition and phases. Prints time, docs/s and peak RSS (main + workers, sampled).

    .venv/bin/python bench/build_scale.py --n 500000 [--workers 2] [--keep]
    .venv/bin/python bench/build_scale.py --n 500000 --executor ray   # on a local Ray cluster (all cores)

With `--executor ray` the build starts a local Ray cluster ($RAY_ADDRESS, when set, is used instead);
its start-up is inside the timed build, and the RSS tree includes Ray's own processes (raylet, GCS,
workers), whose shared object-store pages count once per process that maps them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_pairs() -> list[tuple[str, str, str]]:
    """(user, assistant, bucket) from several real corpora, read with the standard library only."""
    out: list[tuple[str, str, str]] = []
    for line in open(DATA / "gsm8k" / "train.jsonl", encoding="utf-8"):
        r = json.loads(line)
        out.append((r["question"], r["answer"], "analytical"))
    for f in ("code_alpaca_2k.json", "new_codealpaca.json"):
        for r in json.load(open(DATA / "codealpaca" / f, encoding="utf-8")):
            if r["output"].strip():
                out.append(((r["instruction"] + "\n\n" + r.get("input", "")).strip(), r["output"], "technical"))
    with open(DATA / "counsel-chat" / "20200325_counsel_chat.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["questionText"] and r["answerText"]:
                out.append((r["questionText"], r["answerText"], "empathetic"))
    for line in open(DATA / "nq-open" / "NQ-open.dev.jsonl", encoding="utf-8"):
        r = json.loads(line)
        out.append((r["question"] + "?", "The answer is " + r["answer"][0] + ".", "factual"))
    with (
        zipfile.ZipFile(DATA / "ibm-debater" / "arg_quality_rank_30k.zip") as z,
        z.open("arg_quality_rank_30k.csv") as f,
    ):
        for r in csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")):
            out.append((f"Give me one argument on: {r['topic']}", r["argument"], "ethical"))
    with open(DATA / "ethics" / "justice_train.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            verdict = "That is reasonable." if r["label"] == "1" else "That is not a fair claim."
            out.append((f"Is this fair? {r['scenario']}", verdict + " " + r["scenario"], "ethical"))
    for name in ("aesop4children", "aesopfables"):
        for r in json.load(open(DATA / "aesop" / f"{name}.json", encoding="utf-8")):
            out.append((f"Tell me the fable '{r['title']}'.", r["fable"], "creative"))
    return out


def perturbed(pairs: list[tuple[str, str, str]], n: int, seed: int = 0):
    """n records: 8 % exact copies, 8 % one-word edits of an earlier record, the rest rewritten variants."""
    rng = random.Random(seed)
    vocab = sorted({w for u, a, _ in pairs[:3000] for w in a.split()})
    recent: list[tuple[str, str, str]] = []
    for i in range(n):
        roll = rng.random()
        if recent and roll < 0.08:
            u, a, b = rng.choice(recent)
            yield "  " + u.upper(), a.replace(" ", "  "), b
            continue
        if recent and roll < 0.16:
            u, a, b = rng.choice(recent)
            words = a.split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            yield u, " ".join(words), b
            continue
        u, a, b = pairs[i % len(pairs)]
        if i >= len(pairs):  # after one pass over the real records, rewrite a quarter of the words
            words = a.split()
            for _ in range(max(1, len(words) // 4)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            a = " ".join(words)
            u = f"{u} (variant {i})"
        rec = (u, a, b)
        if len(recent) < 5000:
            recent.append(rec)
        else:
            recent[rng.randrange(5000)] = rec
        yield rec


def write_corpus(folder: Path, n: int) -> list[dict]:
    """One JSONL file (openai format) per bucket; returns the config's sources."""
    handles = {}
    for u, a, bucket in perturbed(real_pairs(), n):
        if bucket not in handles:
            handles[bucket] = open(folder / f"{bucket}.jsonl", "w", encoding="utf-8")
        handles[bucket].write(
            json.dumps(
                {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]}, ensure_ascii=False
            )
            + "\n"
        )
    for h in handles.values():
        h.close()
    return [
        {"name": b, "format": "openai", "path": f"{b}.jsonl", "category": b, "license": "mixed"}
        for b in sorted(handles)
    ]


class RssSampler(threading.Thread):
    """Peak of (this process + all its descendants) resident memory, sampled every 0.5 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def _tree_rss(self) -> int:
        parents: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    parents[int(d)] = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        tree, todo = set(), [os.getpid()]
        while todo:
            p = todo.pop()
            tree.add(p)
            todo += [c for c, pp in parents.items() if pp == p and c not in tree]
        total = 0
        for p in tree:
            try:
                for line in open(f"/proc/{p}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.peak = max(self.peak, self._tree_rss())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executor", choices=["local", "ray"], default="local")
    ap.add_argument("--keep", action="store_true", help="keep the generated corpus and output")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    from emergent.config import load_config
    from emergent.curate.build import build

    folder = Path(tempfile.mkdtemp(prefix="emergent-scale-"))
    try:
        t0 = time.perf_counter()
        sources = write_corpus(folder, args.n)
        size = sum(f.stat().st_size for f in folder.glob("*.jsonl"))
        print(f"generated {args.n:,} records ({size / 1e9:.2f} GB JSONL) in {time.perf_counter() - t0:.0f} s: {folder}")
        cfg_path = folder / "scale.yaml"
        cfg_path.write_text(
            yaml.safe_dump(
                {
                    "name": "scale",
                    "seed": 0,
                    "sources": sources,
                    "curate": {"workers": args.workers, "executor": args.executor},
                }
            )
        )
        cfg = load_config(cfg_path)
        banding = _time_ray_banding() if args.executor == "ray" else None
        sampler = RssSampler()
        sampler.start()
        start = time.perf_counter()
        manifest = build(cfg, folder / "out", show_progress=not args.quiet)
        seconds = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
        c = manifest["counts"]
        print(json.dumps(c))
        how = f"{args.workers} workers" if args.executor == "local" else _ray_cluster()
        if banding is not None:
            print(f"ray banding stage (shuffle on band keys -> candidate edges): {banding[0]:.0f} s")
        print(
            f"build: {args.n:,} records in {seconds:.0f} s = {args.n / seconds:,.0f} docs/s with {how}; "
            f"peak RSS (main + workers) {sampler.peak / 2**30:.2f} GiB; 5M would take ~{5_000_000 / (args.n / seconds) / 60:.1f} min at this rate"
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def _time_ray_banding() -> list[float]:
    """Seconds spent in the Ray banding stage, added up in the returned one-item list."""
    from emergent.curate import ray_exec

    spent = [0.0]
    inner = ray_exec.ray_candidate_pairs

    def timed(keys):
        t = time.perf_counter()
        try:
            return inner(keys)
        finally:
            spent[0] += time.perf_counter() - t

    ray_exec.ray_candidate_pairs = timed  # ray_pairs_finder hands out whatever this name holds
    return spent


def _ray_cluster() -> str:
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 0))
    return f"the Ray executor on a {len(ray.nodes())}-node cluster with {cpus} CPUs"


if __name__ == "__main__":
    main()
