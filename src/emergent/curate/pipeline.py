"""Pass 1 of the build: per-record steps over chunks of conversations, in-process or in worker processes.

A chunk goes through categorisation -> filters -> decontamination -> fingerprint; what comes back is
the survivors as an Arrow IPC buffer plus compact per-row arrays. Chunks are submitted in order and
collected in order, so the output does not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from emergent.curate.categorise import Categorise, load_classifier
from emergent.curate.config import CurateConfig
from emergent.curate.decontaminate import Decontaminate
from emergent.curate.dedup import Fingerprint, optimal_bands
from emergent.curate.filters import quality_filters
from emergent.curate.steps import Dropped, Step, batched, run_steps
from emergent.data.store import table_from_conversations
from emergent.overlap import EvalSet
from emergent.schema import CATEGORIES, Conversation, conversation_text
from emergent.text import approx_tokens

if TYPE_CHECKING:
    from emergent.curate.ray_exec import RayChunkExecutor


def lsh_shape(cfg: CurateConfig) -> tuple[int, int]:
    nd = cfg.near_dedup
    return (nd.bands, nd.rows) if nd.bands else optimal_bands(nd.threshold, nd.num_perm, nd.false_negative_weight)


@dataclass
class ChunkResult:
    table: bytes  # survivors, Arrow IPC stream
    rows: int
    arrays: dict[str, np.ndarray]  # hashes, lengths, signatures, band_keys, category, source, tokens, ids
    dropped: Dropped


class ChunkProcessor:
    """Runs the per-record steps on one chunk; built once per process."""

    def __init__(self, cfg: CurateConfig, eval_sets: list[EvalSet], source_names: list[str], classify: bool) -> None:
        self.cfg = cfg
        self.source_index = {name: i for i, name in enumerate(source_names)}
        self.classifier = load_classifier()[0] if classify else None
        # Categories first: the offensive filter is scoped by category.
        steps: list[Step] = [Categorise(self.classifier, cfg.categorise.fallback_category, cfg.categorise.batch_size)]
        steps += quality_filters(cfg.filters)
        dc = cfg.decontaminate
        if dc.enabled and (decontaminate := Decontaminate(eval_sets, dc.ngram, dc.evaluation_parts)).active:
            steps.append(decontaminate)
        bands, rows = lsh_shape(cfg)
        nd = cfg.near_dedup
        self.fingerprint = Fingerprint(nd.ngram, nd.num_perm, bands, rows, with_signatures=nd.enabled)
        steps.append(self.fingerprint)
        self.steps = steps

    def __call__(self, convs: list[Conversation]) -> ChunkResult:
        dropped = Dropped()
        kept = list(run_steps(self.steps, convs, dropped))
        arrays = self.fingerprint.out.take() if kept else _empty_arrays(self.cfg)
        arrays["category"] = np.array([CATEGORIES.index(c["_category"]) for c in kept], dtype=np.int8)
        arrays["source"] = np.array([self.source_index[c["_source"]] for c in kept], dtype=np.int16)
        cpt = self.cfg.filters.chars_per_token
        arrays["tokens"] = np.array([approx_tokens(conversation_text(c), cpt) for c in kept], dtype=np.int64)
        arrays["ids"] = np.frombuffer(b"".join(_id_bytes(c) for c in kept), dtype=np.uint8).reshape(-1, 12)
        sink = pa.BufferOutputStream()
        table = table_from_conversations(kept)
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return ChunkResult(sink.getvalue().to_pybytes(), len(kept), arrays, dropped)


def _id_bytes(conv: Conversation) -> bytes:
    try:
        raw = bytes.fromhex(conv["_id"])
    except ValueError:
        raw = b""
    if len(raw) != 12:
        raise ValueError(f"{conv['_source']} {conv['_origin']}: _id {conv['_id']!r} is not the 24-hex id ingest makes")
    return raw


def _empty_arrays(cfg: CurateConfig) -> dict[str, np.ndarray]:
    bands, _ = lsh_shape(cfg)
    perm = cfg.near_dedup.num_perm if cfg.near_dedup.enabled else 0
    return {
        "hashes": np.zeros(0, np.int64),
        "lengths": np.zeros(0, np.int64),
        "signatures": np.zeros((0, perm), np.uint32),
        "band_keys": np.zeros((0, bands if cfg.near_dedup.enabled else 0), np.uint64),
        "prompt_hashes": np.zeros(0, np.int64),
    }


_WORKER: ChunkProcessor | None = None


def _init_worker(cfg: CurateConfig, eval_sets: list[EvalSet], source_names: list[str], classify: bool) -> None:
    global _WORKER
    _WORKER = ChunkProcessor(cfg, eval_sets, source_names, classify)


def _run_chunk(convs: list[Conversation]) -> ChunkResult:
    assert _WORKER is not None
    return _WORKER(convs)


class ChunkExecutor:
    """Processes chunks in order; with workers > 0 in a process pool with a bounded number in flight."""

    # Its results carry their band keys; the Ray executor's leave them in the cluster and name them here.
    band_keys_in_cluster = None

    def __init__(self, cfg: CurateConfig, eval_sets: list[EvalSet], source_names: list[str], classify: bool) -> None:
        self.cfg = cfg
        self.pool: Any = None
        if cfg.workers > 0:
            # Not plain fork: a fork server starts clean (no thread pools inherited from this process —
            # Arrow's, or a native library's, can deadlock in a forked child), preloads the slow
            # imports (the profanity model takes seconds to unpickle) once, and forks workers from itself.
            ctx = mp.get_context("forkserver")
            preload = ["emergent.curate.pipeline"] + (["profanity_check"] if cfg.filters.offensive else [])
            ctx.set_forkserver_preload(preload)
            self.pool = ctx.Pool(
                cfg.workers, initializer=_init_worker, initargs=(cfg, eval_sets, source_names, classify)
            )
            self.local: ChunkProcessor | None = None
        else:
            self.local = ChunkProcessor(cfg, eval_sets, source_names, classify)

    def map(self, stream: Iterable[Conversation]) -> Iterator[ChunkResult]:
        chunks = batched(stream, self.cfg.chunk_size)
        if self.pool is None:
            assert self.local is not None
            for chunk in chunks:
                yield self.local(chunk)
            return
        pending: deque = deque()
        limit = 2 * self.cfg.workers
        for chunk in chunks:
            pending.append(self.pool.apply_async(_run_chunk, (chunk,)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def make_executor(
    cfg: CurateConfig, eval_sets: list[EvalSet], source_names: list[str], classify: bool
) -> ChunkExecutor | RayChunkExecutor:
    """The pass-1 executor `curate.executor` names: local processes, or actors on a Ray cluster."""
    if cfg.executor == "ray":
        from emergent.curate.ray_exec import RayChunkExecutor

        return RayChunkExecutor(cfg, eval_sets, source_names, classify)
    return ChunkExecutor(cfg, eval_sets, source_names, classify)


def pairs_finder(cfg: CurateConfig) -> Callable[[np.ndarray], np.ndarray] | None:
    """`plan_near`'s candidate-pair finder: None (in memory) locally, a Ray Data shuffle on Ray."""
    if cfg.executor == "ray":
        from emergent.curate.ray_exec import ray_pairs_finder

        return ray_pairs_finder(cfg)
    return None
