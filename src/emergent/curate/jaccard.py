"""Exact Jaccard of LSH candidate pairs, computed from their shingle sets (only candidate rows are
re-read), so the near-duplicate decision does not rest on the MinHash estimate alone."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from emergent.curate.minhash import _U64, shingle_hashes
from emergent.schema import conversation_text
from emergent.text import exact_hash, normalise, tools_key


def estimate_margin(threshold: float, num_perm: int) -> float:
    """How far below the threshold a signature estimate may fall for a pair still worth an exact check:
    4 standard deviations of the estimate at the threshold, plus one permutation's step.

    A pair exactly at the threshold falls further below with probability < 1e-4 (binomial tail: 5e-5
    at 0.8 / 128 permutations).
    """
    return 4 * math.sqrt(threshold * (1 - threshold) / num_perm) + 1 / num_perm


def _ragged(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges starts[i] .. starts[i] + lengths[i] as one index array."""
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(int(lengths.sum()))


# A sortable uint64 per shingle of a pair: pair tag (16 bits) | 47-bit shingle hash | side (a or b).
_TAG_SHIFT = _U64(48)
_HASH47 = _U64(((1 << 47) - 1) << 1)


def _pair_jaccard(values: np.ndarray, counts: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Jaccard of row pairs (< 2^16 of them); row r's shingles are `counts[r]` sorted `values` (hash << 1)."""
    offsets = np.cumsum(counts) - counts
    a, b = pairs[:, 0], pairs[:, 1]
    lengths = np.stack([counts[a], counts[b]], axis=1).ravel()
    starts = np.stack([offsets[a], offsets[b]], axis=1).ravel()
    side = np.repeat(np.tile(np.array([0, 1], dtype=np.uint64), len(pairs)), lengths)
    tag = np.repeat(np.arange(len(pairs), dtype=np.uint64) << _TAG_SHIFT, counts[a] + counts[b])
    keys = values[_ragged(starts, lengths)] | tag | side
    # Already sorted within each pair's two runs: the stable sort (timsort) merges runs in near-linear time.
    keys.sort(kind="stable")
    shingle = keys >> _U64(1)
    first = np.flatnonzero(np.r_[True, shingle[1:] != shingle[:-1]])
    last = np.r_[first[1:], len(keys)] - 1
    in_both = (keys[first] & _U64(1) == 0) & (keys[last] & _U64(1) == 1)  # side a sorts before side b
    pair = (keys[first] >> _TAG_SHIFT).astype(np.int64)
    union = np.bincount(pair, minlength=len(pairs))
    return np.bincount(pair[in_both], minlength=len(pairs)) / union


def exact_jaccard(
    pairs: np.ndarray, texts: Callable[[np.ndarray], list[str]], ngram: int, chunk: int = 32_767
) -> np.ndarray:
    """Jaccard of the shingle sets of each pair of rows; `texts(rows)` gives the normalised texts of
    sorted unique rows. Works through the pairs in chunks, so memory holds only a chunk's texts."""
    out = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), chunk):
        rows, local = np.unique(pairs[s : s + chunk], return_inverse=True)
        local = local.reshape(-1, 2)
        hashes, counts = shingle_hashes(texts(rows), ngram)
        row_tag = np.repeat(np.arange(len(rows), dtype=np.uint64) << _TAG_SHIFT, counts)
        values = np.sort(row_tag | ((hashes >> _U64(17)) << _U64(1))) & _HASH47  # each row's run sorted
        # Small slices of pairs keep the temporaries in the cache (and fresh memory is slow to fault in).
        for p in range(0, len(local), 2048):
            part = local[p : p + 2048]
            out[s + p : s + p + len(part)] = _pair_jaccard(values, counts, part)
    return out


class StagedTexts:
    """`texts(rows)` for `exact_jaccard` in a build: the normalised conversation text of staged rows,
    re-read from pass 1's staging file (Arrow IPC) and checked against the exact key pass 1 recorded
    (text and tool schemas: `text.exact_key`)."""

    def __init__(self, path: Path, hashes: np.ndarray) -> None:
        self.path, self.hashes = Path(path), hashes

    def __call__(self, rows: np.ndarray) -> list[str]:
        out: list[str] = []
        tools: list[int] = []
        with pa.memory_map(str(self.path)) as source:
            reader = ipc.open_file(source)
            first = 0
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                lo, hi = np.searchsorted(rows, [first, first + batch.num_rows])
                if hi > lo:
                    take = pa.array(rows[lo:hi] - first)
                    msgs = batch.column("messages").take(take).to_pylist()
                    out += [normalise(conversation_text({"messages": m})) for m in msgs]
                    tools += [
                        tools_key(json.loads(t) if t else None) for t in batch.column("tools").take(take).to_pylist()
                    ]
                first += batch.num_rows
        for row, text, key in zip(rows, out, tools, strict=True):
            if exact_hash(text) ^ key != self.hashes[row]:
                raise RuntimeError(
                    f"{self.path}: staged row {row} no longer reads as the text pass 1 fingerprinted; rerun the build"
                )
        return out
