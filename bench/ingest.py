"""Ingest throughput: N alpaca records (real CodeAlpaca rows repeated with a counter) through
`emergent data ingest` versus the baseline a user writes today (datasets.load_dataset('json') +
map to messages + to_parquet), in one process on one core. Prints records/s and the ratio.

    python bench/ingest.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "emergent" / "data" / "sample"


def real_alpaca_rows() -> list[dict]:
    path = SHARED / "codealpaca" / "code_alpaca_2k.json"
    if path.exists():
        return json.loads(path.read_text())
    # Fallback: the bundled self-instruct sample (Apache-2.0), flattened to alpaca rows.
    rows = []
    for line in (SAMPLE / "self-instruct" / "user_oriented_instructions.jsonl").read_text().splitlines():
        task = json.loads(line)
        for inst in task["instances"]:
            rows.append({"instruction": task["instruction"], "input": inst["input"], "output": inst["output"]})
    return rows


def write_input(path: Path, n: int) -> None:
    base = real_alpaca_rows()
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            r = base[i % len(base)]
            # A counter keeps rows distinct, as in a real large mixture.
            fh.write(
                json.dumps(
                    {"instruction": f"{r['instruction']} (#{i})", "input": r.get("input", ""), "output": r["output"]}
                )
                + "\n"
            )


def run_ours(path: Path, out: Path) -> float:
    from emergent.config import parse_config
    from emergent.data.ingest import ingest

    cfg = parse_config({"sources": [{"name": "alpaca", "format": "alpaca", "path": str(path)}]}, path.parent / "c.yaml")
    t = time.perf_counter()
    manifest = ingest(cfg.sources, cfg.ingest, out, show_progress=False)
    elapsed = time.perf_counter() - t
    assert manifest["counts"]["accepted"] + manifest["counts"]["quarantined"] == manifest["counts"]["input"]
    return elapsed


def run_baseline(path: Path, out: Path) -> float:
    from datasets import disable_progress_bars, load_dataset

    disable_progress_bars()

    def to_messages(row: dict) -> dict:
        prompt = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]}

    t = time.perf_counter()
    ds = load_dataset("json", data_files=str(path), split="train", cache_dir=str(out / "cache"))
    ds = ds.map(to_messages, remove_columns=ds.column_names)
    ds.to_parquet(str(out / "baseline.parquet"))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "alpaca.jsonl"
        write_input(path, args.n)
        ours = run_ours(path, tmp / "ours")
        base = run_baseline(path, tmp / "base")
    print(f"records: {args.n:,}")
    print(f"baseline (datasets load_dataset + map + to_parquet): {args.n / base:,.0f} records/s ({base:.1f} s)")
    print(
        f"emergent data ingest (validate + quarantine + ids + parquet): {args.n / ours:,.0f} records/s ({ours:.1f} s)"
    )
    print(f"ratio ours/baseline: {base / ours:.2f}x")


if __name__ == "__main__":
    main()
