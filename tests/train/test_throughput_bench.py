"""bench/train_throughput.py runs end to end on a tiny model: sides in turns, one after another, a failing side."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> str:
    cmd = [sys.executable, str(ROOT / "bench" / "train_throughput.py"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_sides_in_turns_each_make_a_full_pass_and_a_failing_side_is_reported(tiny_model_dir):
    out = bench(
        "--model", str(tiny_model_dir), "--examples", "16", "--turn", "0.2",
        "--variants", "baseline,ours,ours+rows=1000",
    )  # fmt: skip
    assert "sides timed in turns" in out
    passes = {m[0]: float(m[1]) for m in re.findall(r"^\s*(\S+): \d+ micro-batches \(([\d.]+) passes\)", out, re.M)}
    assert set(passes) == {"baseline+sdpa", "ours+emergent_varlen"}, out
    assert all(p >= 1.0 for p in passes.values()), out
    assert re.search(r"ours\+rows=1000: FAILED ValueError: 1 micro-batches leave none to time", out), out
    assert re.search(r"^ratio ours / baseline: [\d.]+x$", out, re.M), out


def test_sequential_times_each_side_once(tiny_model_dir):
    out = bench("--model", str(tiny_model_dir), "--examples", "16", "--sequential", "--variants", "baseline,ours")
    assert "sides timed one after another" in out
    assert len(re.findall(r"micro-batches \(1\.0 passes\)", out)) == 2, out
