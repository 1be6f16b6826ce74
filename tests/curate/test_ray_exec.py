"""`curate.executor: ray` on a local 2-CPU Ray cluster started here: the same build, byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from curate_helpers import LOREM, conv
from test_build import make_config, make_corpora, tree_bytes

from emergent.config import load_config
from emergent.curate.build import build
from emergent.curate.config import CurateConfig
from emergent.curate.dedup import all_band_keys, candidate_pairs, components, keep_rank, plan_near
from emergent.curate.pipeline import ChunkExecutor, make_executor

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Small slices of real corpora: a classified one (hh_rlhf), tools (bfcl), duplicates (counsel_chat, code_alpaca).
SHARED_SOURCES = ("counsel_chat", "gsm8k", "hh_rlhf", "code_alpaca", "aesop", "bfcl")

# One xdist worker runs them all, so only one Ray cluster starts per test run.
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'emergent[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two cluster labellings describe the same clusters (labels themselves are arbitrary)."""
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def _planted_signatures(n: int, seed: int = 0) -> np.ndarray:
    """Random MinHash-like signatures with groups of copies that keep 60-100 % of their values."""
    rng = np.random.default_rng(seed)
    sig = rng.integers(0, 2**32, size=(n, 128), dtype=np.uint32)
    for base in rng.choice(n, n // 20, replace=False):
        for row in rng.choice(n, 4, replace=False):
            keep = rng.random(128) < rng.uniform(0.6, 1.0)
            sig[row] = np.where(keep, sig[base], sig[row])
    return sig


def test_ray_candidate_pairs_give_the_same_clusters(ray_cluster):
    from emergent.curate.ray_exec import ray_candidate_pairs

    n = 4000
    sig = _planted_signatures(n)
    keys = all_band_keys(sig, 16, 8)
    keys[:30, 5] = 12345  # one large bucket in one band
    local, on_ray = candidate_pairs(keys), ray_candidate_pairs(keys)
    assert len(local) > 100
    assert np.all(on_ray[:, 0] < on_ray[:, 1]) and len(np.unique(on_ray, axis=0)) == len(on_ray)
    assert _same_partition(components(n, local), components(n, on_ray))
    # After verification against the threshold some candidate edges fall away; the kept rows must not move.
    rank = keep_rank(np.zeros(n, np.int64), np.arange(n) % 7, ["source_order", "longest"])
    rows = np.arange(n)
    expected = plan_near(keys, sig, rank, rows, 0.8)
    assert np.sum(expected != rows) > 50
    assert np.array_equal(plan_near(keys, sig, rank, rows, 0.8, pairs_fn=ray_candidate_pairs), expected)
    assert ray_candidate_pairs(np.zeros((0, 16), np.uint64)).shape == (0, 2)


def test_ray_candidate_pairs_on_selected_rows_match_the_sliced_matrix(ray_cluster, monkeypatch):
    from emergent.curate import ray_exec

    monkeypatch.setattr(ray_exec, "BAND_BLOCK_ROWS", 700)  # several blocks, a selection crossing their edges
    n = 3000
    keys = all_band_keys(_planted_signatures(n, seed=1), 16, 8)
    keys[::9, 3] = 777  # a bucket whose head (row 0) is dropped below: edges must start from the next kept row
    rows = np.sort(np.random.default_rng(2).choice(n, 2000, replace=False))
    rows = rows[rows != 0]
    in_cluster = ray_exec.ClusterBandKeys.from_matrix(keys)
    assert len(in_cluster.blocks) == 5
    expected = candidate_pairs(keys[rows])
    assert len(expected) > 100
    assert np.array_equal(ray_exec.ray_candidate_pairs(in_cluster.select(rows)), expected)
    assert np.array_equal(ray_exec.ray_candidate_pairs(in_cluster), candidate_pairs(keys))
    assert ray_exec.ray_candidate_pairs(in_cluster.select(np.zeros(0, np.int64))).shape == (0, 2)


def test_ray_executor_returns_chunks_in_order_with_arrays_it_owns(ray_cluster):
    convs = [conv(f"question {i} " + LOREM, f"answer {i % 40} " + LOREM, origin=f"t:{i}") for i in range(300)]
    cfg = CurateConfig(workers=0, chunk_size=32, executor="ray")
    local = list(ChunkExecutor(cfg, [], ["s"], classify=False).map(convs))
    executor = make_executor(cfg, [], ["s"], classify=False)
    try:
        on_ray = list(executor.map(convs))
    finally:
        executor.close()
    assert len(on_ray) == len(local) == 10
    for a, b in zip(local, on_ray, strict=True):
        assert a.table == b.table
        assert a.arrays.keys() == b.arrays.keys()
        for k in a.arrays:
            # A view into the object store would pin the chunk's whole result there until the build ends.
            assert b.arrays[k].flags.owndata, k
            if k == "band_keys":  # left in the cluster: only the row count comes back
                assert b.arrays[k].shape == (len(a.arrays[k]), 0)
            else:
                assert np.array_equal(a.arrays[k], b.arrays[k]), k
    in_cluster = executor.band_keys_in_cluster
    local_keys = np.concatenate([r.arrays["band_keys"] for r in local])
    assert in_cluster.rows == len(local_keys) == 300 and in_cluster.bands == local_keys.shape[1] > 0
    blocks = ray_cluster.get(in_cluster.blocks)
    assert np.array_equal(np.concatenate([b["row"].to_numpy() for b in blocks]), np.arange(300))
    stored = np.stack([np.concatenate([b[f"b{i}"].to_numpy() for b in blocks]) for i in range(in_cluster.bands)], 1)
    assert np.array_equal(stored, local_keys)


def test_cluster_without_cpus_is_a_clear_error():
    from emergent.curate.ray_exec import _cluster_cpus

    class NoCpus:
        def cluster_resources(self) -> dict:
            return {"memory": 1e9}

    with pytest.raises(RuntimeError, match="no CPUs"):
        _cluster_cpus(NoCpus())


def _shared_config(folder: Path, shared_data: Path, executor: str) -> Path:
    """Slices of the real corpora (configs/corpora.yaml) plus the hand-made corpora with planted duplicates."""
    make_corpora(folder)
    planted = yaml.safe_load(make_config(folder).read_text())
    corpora = yaml.safe_load((CONFIGS / "corpora.yaml").read_text())["sources"]
    sources = []
    for src in corpora:
        if src["name"] in SHARED_SOURCES:
            for key in ("path", "paths"):
                if key in src:
                    paths = [src[key]] if key == "path" else src[key]
                    resolved = [str((CONFIGS / p).resolve()) for p in paths]
                    src[key] = resolved[0] if key == "path" else resolved
            sources.append({**src, "max_examples": 250})
    planted["sources"] = sources + planted["sources"]
    planted["curate"].update({"executor": executor, "chunk_size": 96, "workers": 0})
    path = folder / f"{executor}.yaml"
    path.write_text(yaml.safe_dump(planted))
    return path


@pytest.mark.shared_data
def test_ray_build_is_byte_identical_to_local(ray_cluster, shared_data, tmp_path):
    outputs = {}
    for executor in ("local", "ray"):
        cfg = load_config(_shared_config(tmp_path, shared_data, executor))
        outputs[executor] = tmp_path / f"out_{executor}"
        manifest = build(cfg, outputs[executor], show_progress=False)
        assert manifest["counts"]["near_duplicates"] >= 5 and manifest["counts"]["exact_duplicates"] >= 5
        assert set(manifest["sources"]) >= set(SHARED_SOURCES)
    local, on_ray = tree_bytes(outputs["local"]), tree_bytes(outputs["ray"])
    assert any(name.startswith("conversations/") for name in local)
    assert any(name.startswith("phases/") for name in local)
    assert any(name.startswith("dropped/") for name in local)
    assert sorted(local) == sorted(on_ray)
    # The manifest has no timing fields, so every file, manifest.json included, must match exactly.
    for name in local:
        assert local[name] == on_ray[name], f"{name} differs between the local and the Ray executor"


def test_ray_build_keeps_band_keys_off_the_driver(ray_cluster, monkeypatch, tmp_path):
    from emergent.curate import build as build_module
    from emergent.curate import ray_exec

    planned, shuffled = [], []
    real_plan, real_pairs = build_module._plan, ray_exec.ray_candidate_pairs

    def spy_plan(cfg, a, work, warnings):
        planned.append(dict(a))
        return real_plan(cfg, a, work, warnings)

    def spy_pairs(keys):
        shuffled.append(keys)
        return real_pairs(keys)

    monkeypatch.setattr(build_module, "_plan", spy_plan)
    monkeypatch.setattr(ray_exec, "ray_candidate_pairs", spy_pairs)
    make_corpora(tmp_path)
    outputs = {}
    for executor in ("local", "ray"):
        cfg = load_config(make_config(tmp_path, extra={"executor": executor, "chunk_size": 40}))
        outputs[executor] = tmp_path / f"out_{executor}"
        manifest = build(cfg, outputs[executor], show_progress=False)
        assert manifest["counts"]["near_duplicates"] > 0 and manifest["counts"]["exact_duplicates"] > 0
    assert tree_bytes(outputs["local"]) == tree_bytes(outputs["ray"])

    local, on_ray = planned
    n = len(local["hashes"])
    assert local["band_keys"].shape == (n, 16) and "band_keys_in_cluster" not in local
    assert on_ray["band_keys"].shape == (n, 0)
    # What the driver holds: the planning arrays only (hashes, lengths, ids, ...), 47 bytes a row.
    held = {k: v.nbytes for k, v in on_ray.items() if isinstance(v, np.ndarray)}
    assert held == {k: v.nbytes for k, v in local.items() if k != "band_keys"} | {"band_keys": 0}
    assert sum(held.values()) == 47 * n
    (keys,) = shuffled
    assert isinstance(keys, ray_exec.ClusterBandKeys) and keys.rows == n
    assert all(isinstance(ref, ray_cluster.ObjectRef) for ref in keys.blocks)
    # Exact dedup removed rows before the banding, as `keys[rows]` does locally.
    assert len(keys) == len(keys.kept) == n - manifest["counts"]["exact_duplicates"]


def test_ray_executor_without_ray_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    make_corpora(tmp_path)
    cfg = load_config(make_config(tmp_path, extra={"executor": "ray"}))
    with pytest.raises(RuntimeError, match=r"pip install 'emergent\[ray\]'"):
        make_executor(cfg.curate, [], [s.name for s in cfg.sources], classify=False)
