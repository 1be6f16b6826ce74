"""The build on a Ray cluster (`curate.executor: ray`): pass 1 on Ray actors, LSH banding as a Ray Data shuffle.

Pass 1 (`RayChunkExecutor`): ingest stays on the driver, because it is one ordered stream over the
source files and its quarantine/accounting are written as it goes; the driver cuts it into chunks and
each chunk runs through the same `ChunkProcessor` as the local executor (categorise, filters,
decontaminate, fingerprint) on one of a set of Ray actors, one per cluster CPU. Chunks go out round
robin with a bounded number in flight and come back in submission order, so the staged records, and
with them every output file, are byte-identical to the local executor's.

The band keys never reach the driver: each actor returns a chunk's [rows, bands] band keys as a
separate object, which the driver does not fetch; it only counts rows, and every ~250k rows a task
in the cluster joins the pending chunks into one Arrow block numbered with global rows
(`ClusterBandKeys`). Near-dedup candidates (`ray_candidate_pairs`): those blocks become
(band, key, row) records on the workers, keeping only the rows exact dedup left (a bool mask of one
byte per row, put in the object store once); a hash shuffle on (band, key) brings each LSH bucket
into one partition, and each partition emits that bucket's edges. The driver only ever receives edges.

Ray is imported inside the functions: the module loads without the `ray` extra and says how to get it.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from emergent.curate.config import CurateConfig
from emergent.curate.dedup import run_edges
from emergent.curate.pipeline import ChunkProcessor, ChunkResult, lsh_shape
from emergent.curate.steps import batched
from emergent.schema import Conversation

# Rows per input block of the banding stage: 250k rows x 16 bands = 4M (band, key, row) records.
BAND_BLOCK_ROWS = 250_000
# Target (band, key, row) records per shuffle partition; at least one partition per CPU.
RECORDS_PER_PARTITION = 4_000_000


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("curate.executor is 'ray' but Ray is not installed: pip install 'emergent[ray]'") from None
    return ray


def connect(address: str | None = None) -> Any:
    """The `ray` module, connected: to `address`, else $RAY_ADDRESS, else a new local cluster.

    A connection that already exists (a test's or a notebook's) is used as it is.
    """
    ray = _ray()
    if not ray.is_initialized():
        ray.init(
            address=address or os.environ.get("RAY_ADDRESS") or None,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    return ray


def _cluster_cpus(ray: Any) -> int:
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        raise RuntimeError(
            "the Ray cluster has no CPUs to run the build on: start workers with `ray start --num-cpus N`"
        )
    return cpus


class _Pass1Actor:
    """Holds one `ChunkProcessor` (the classifier and profanity model load once per actor)."""

    def __init__(self, cfg: CurateConfig, prompts: list[str], source_names: list[str], classify: bool) -> None:
        self.processor = ChunkProcessor(cfg, prompts, source_names, classify)

    def process(self, chunk: list[Conversation]) -> tuple[ChunkResult, np.ndarray]:
        """The chunk's result without its band keys, and the band keys as a second return object."""
        res = self.processor(chunk)
        keys = res.arrays["band_keys"]
        res.arrays["band_keys"] = np.zeros((len(keys), 0), np.uint64)
        return res, keys


def _band_block(first_row: int, *chunk_keys: np.ndarray) -> pa.Table:
    """Consecutive chunks' band keys as one block: `row` (global row number), b0 .. b{bands-1}."""
    keys = np.concatenate(chunk_keys)
    return pa.table(
        {
            "row": np.arange(first_row, first_row + len(keys), dtype=np.int64),
            **{f"b{b}": keys[:, b] for b in range(keys.shape[1])},
        }
    )


@cache
def _band_block_task() -> Any:
    # No CPU reserved: pass 1's actors hold every CPU, and the join (a copy) must not wait for them to end.
    return _ray().remote(num_cpus=0)(_band_block)


@dataclass
class ClusterBandKeys:
    """The build's [rows, bands] band keys, left in the Ray object store as blocks of ~250k rows.

    The driver holds ObjectRefs only: one per block, plus the chunks not yet joined into one.
    `select(rows)` names the rows near dedup looks at (those exact dedup kept), as `keys[rows]` does.
    """

    bands: int
    blocks: list = field(default_factory=list)  # ObjectRefs of `_band_block` tables, in row order
    rows: int = 0
    kept: np.ndarray | None = None  # sorted global rows to consider; None: all
    _pending: list = field(default_factory=list, repr=False)  # refs of chunk band keys not yet in a block
    _pending_rows: int = field(default=0, repr=False)

    def add(self, chunk_keys: Any, rows: int) -> None:
        """Appends the next chunk's band keys (an ObjectRef of its [rows, bands] array)."""
        self._pending.append(chunk_keys)
        self._pending_rows += rows
        self.rows += rows
        if self._pending_rows >= BAND_BLOCK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Joins the pending chunks into a block (a task in the cluster; their objects are freed after it)."""
        if self._pending_rows:
            first = self.rows - self._pending_rows
            self.blocks.append(_band_block_task().remote(first, *self._pending))
        self._pending, self._pending_rows = [], 0

    def select(self, rows: np.ndarray) -> ClusterBandKeys:
        """These keys, restricted to the sorted global `rows`; pair positions then index `rows`."""
        self.flush()
        return replace(self, kept=np.asarray(rows, dtype=np.int64))

    def __len__(self) -> int:
        return self.rows if self.kept is None else len(self.kept)

    @classmethod
    def from_matrix(cls, keys_matrix: np.ndarray) -> ClusterBandKeys:
        """A [rows, bands] matrix already on the driver, put into the object store in blocks."""
        ray = _ray()
        n, bands = keys_matrix.shape
        out = cls(bands, rows=n)
        for s in range(0, n, BAND_BLOCK_ROWS):
            out.blocks.append(ray.put(_band_block(s, keys_matrix[s : s + BAND_BLOCK_ROWS])))
        return out


class RayChunkExecutor:
    """`ChunkExecutor` on Ray: `map(stream)` yields a `ChunkResult` per chunk, in input order."""

    def __init__(self, cfg: CurateConfig, prompts: list[str], source_names: list[str], classify: bool) -> None:
        ray = connect(cfg.ray_address)
        self.cfg = cfg
        self.ray = ray
        actor = ray.remote(num_cpus=1)(_Pass1Actor)
        self.actors = [actor.remote(cfg, prompts, source_names, classify) for _ in range(_cluster_cpus(ray))]
        # Where pass 1's band keys are; the results it yields carry zero-column band_keys instead.
        self.band_keys_in_cluster = ClusterBandKeys(lsh_shape(cfg)[0]) if cfg.near_dedup.enabled else None

    def map(self, stream: Iterable[Conversation]) -> Iterator[ChunkResult]:
        pending: deque = deque()
        # Two chunks queued per actor: one running, one waiting, so no actor idles while the driver ingests.
        limit = 2 * len(self.actors)
        for k, chunk in enumerate(batched(stream, self.cfg.chunk_size)):
            pending.append(self.actors[k % len(self.actors)].process.options(num_returns=2).remote(chunk))
            if len(pending) >= limit:
                yield self._collect(*pending.popleft())
        while pending:
            yield self._collect(*pending.popleft())
        if self.band_keys_in_cluster is not None:
            self.band_keys_in_cluster.flush()

    def _collect(self, result: Any, band_keys: Any) -> ChunkResult:
        # Only the result is fetched; the band keys stay where the actor left them.
        res = _owned(self.ray.get(result))
        if self.band_keys_in_cluster is not None:
            self.band_keys_in_cluster.add(band_keys, res.rows)
        return res

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []


def _owned(res: ChunkResult) -> ChunkResult:
    """The result with its arrays copied out of the object store.

    `ray.get` hands numpy arrays back as views of the object's shared-memory buffer; the build keeps
    the per-row arrays to the end, and those views would pin every chunk's whole object (records and
    signatures included) in the store: 5.7 of 7.2 GB at 5M records.
    """
    res.arrays = {k: np.array(v) for k, v in res.arrays.items()}
    return res


def _explode(batch: dict[str, np.ndarray], keep: Any) -> dict[str, np.ndarray]:
    """[rows] x bands columns -> one (band, key, row) record per kept row and band.

    `keep` is the ObjectRef of a bool per global row (Ray Data does not resolve refs in fn_kwargs).
    """
    kept = _ray().get(keep)[batch["row"]]
    rows = batch["row"][kept]
    cols = sorted((c for c in batch if c != "row"), key=lambda c: int(c[1:]))
    keys = np.stack([batch[c][kept] for c in cols], axis=1)
    return {
        "band": np.tile(np.arange(len(cols), dtype=np.int32), len(rows)),
        "key": keys.ravel(),
        "row": np.repeat(rows, len(cols)),
    }


def _bucket_edges(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Edges of every (band, key) bucket in a partition: `run_edges`, as `candidate_pairs` emits them
    per band, so verification keeps the same ones."""
    order = np.lexsort((batch["row"], batch["key"], batch["band"]))
    band, key, row = batch["band"][order], batch["key"][order], batch["row"][order]
    i, j = run_edges(row.astype(np.int64), (band[1:] == band[:-1]) & (key[1:] == key[:-1]))
    pairs = np.unique(np.stack([i, j], 1), axis=0)
    return {"i": pairs[:, 0], "j": pairs[:, 1]}


def ray_candidate_pairs(keys: np.ndarray | ClusterBandKeys) -> np.ndarray:
    """Unique sorted (i, j), i < j, of rows sharing a band key: `candidate_pairs` as a Ray Data shuffle.

    `keys` is a [rows, bands] matrix or, from the Ray executor, `ClusterBandKeys` (selected or not);
    i and j are positions in the matrix, or in the selected rows.
    """
    ray = connect()
    if isinstance(keys, np.ndarray):
        keys = ClusterBandKeys.from_matrix(keys)
    keys.flush()
    if len(keys) == 0 or keys.bands == 0:
        return np.zeros((0, 2), dtype=np.int64)
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    # Ray Data narrates its plan at INFO/WARNING over the build's own progress display; failures still raise.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    # Ray 2.60's default. Repartitioning by keys under it hash-shuffles and never splits a partition's
    # output block (disallow_block_splitting), which `_bucket_edges` relies on.
    ctx.shuffle_strategy = ShuffleStrategy.SHUFFLE_V2
    keep = np.ones(keys.rows, dtype=bool)
    if keys.kept is not None:
        keep[:] = False
        keep[keys.kept] = True
    partitions = max(_cluster_cpus(ray), -(-len(keys) * keys.bands // RECORDS_PER_PARTITION))
    edges = (
        ray.data.from_arrow_refs(keys.blocks)
        .map_batches(_explode, fn_kwargs={"keep": ray.put(keep)}, batch_format="numpy", batch_size=None)
        # Each hash partition holds whole buckets and arrives as one block (the contract
        # GroupedData.map_groups relies on too), so a batch of whole blocks never splits a bucket.
        .repartition(partitions, keys=["band", "key"])
        .map_batches(_bucket_edges, batch_format="numpy", batch_size=None)
    )
    found = [np.stack([b["i"], b["j"]], 1) for b in edges.iter_batches(batch_size=None, batch_format="numpy")]
    found = [f for f in found if len(f)]
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.unique(np.concatenate(found).astype(np.int64), axis=0)
    # Global rows -> positions among the selected rows (monotonic, so order and i < j hold).
    return pairs if keys.kept is None else np.searchsorted(keys.kept, pairs)


def ray_pairs_finder(cfg: CurateConfig) -> Callable[[np.ndarray], np.ndarray]:
    """`plan_near`'s `pairs_fn` for this config: connects to the cluster, then `ray_candidate_pairs`."""
    connect(cfg.ray_address)
    return ray_candidate_pairs
