"""Exact and near-duplicate dedup as a two-pass plan.

Pass 1 (`Fingerprint`, a step) records per conversation an 8-byte hash of the normalised whole
conversation and a MinHash signature of its word n-gram shingles; nothing else is kept in memory.
The tool schemas on offer are folded into the exact hash and into every LSH band key
(`text.tools_key`), so records are duplicates only when they offer the same tools.
`plan_exact` / `plan_near` then decide, with numpy sorts (never O(n^2)), which row survives each
group; pass 2 streams the records and writes them (see build.py). LSH candidate pairs are verified
against the exact Jaccard of their shingle sets, recomputed for the candidate rows only
(`StagedTexts` re-reads them from the staged survivors).

Shingling and MinHash: minhash.py; exact Jaccard of candidate pairs: jaccard.py.

Keep priority (configurable): earlier source in the config, then the longer conversation, then the
earlier row — deterministic whatever the order of equal keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from emergent.curate.jaccard import estimate_margin, exact_jaccard
from emergent.curate.minhash import _U64, mix64, odd_constants, signatures
from emergent.curate.steps import Dropped, Step, batched
from emergent.schema import Conversation
from emergent.text import dedup_text, exact_hash, exact_key, normalise, tools_key


def prompt_text(conv: Conversation) -> str:
    """Every user turn, normalised: records answering the same prompt share it."""
    return normalise("\n".join(m.get("content") or "" for m in conv["messages"] if m["role"] == "user"))


def prompt_key(conv: Conversation, tools: int | None = None) -> int:
    """The same-prompt key: every user turn and the tools on offer (a question asked with other tools is
    another prompt); `tools`: their tools_key when the caller has it already."""
    text = prompt_text(conv)
    if not text:
        return exact_hash(text)  # no user turn: no prompt to share, whatever the tools (phases.NO_PROMPT)
    return exact_hash(text) ^ (tools_key(conv.get("tools")) if tools is None else tools)


@dataclass
class Fingerprints:
    """Per-row arrays collected in pass 1 (row = position in the staged stream)."""

    hashes: list[np.ndarray] = field(default_factory=list)
    lengths: list[np.ndarray] = field(default_factory=list)
    signatures: list[np.ndarray] = field(default_factory=list)
    band_keys: list[np.ndarray] = field(default_factory=list)
    prompt_hashes: list[np.ndarray] = field(default_factory=list)

    KEYS = ("hashes", "lengths", "signatures", "band_keys", "prompt_hashes")

    def take(self) -> dict[str, np.ndarray]:
        """The collected arrays, concatenated; then reset."""
        out = {k: np.concatenate(getattr(self, k)) for k in self.KEYS}
        for k in self.KEYS:
            setattr(self, k, [])
        return out


class Fingerprint(Step):
    """Records the exact-dedup hash and the MinHash signature of each conversation passing by."""

    name = "fingerprint"

    def __init__(
        self, ngram: int, num_perm: int, bands: int, rows: int, with_signatures: bool, batch_size: int = 1024
    ) -> None:
        self.ngram, self.num_perm, self.with_signatures = ngram, num_perm, with_signatures
        self.bands, self.rows = bands, rows
        self.batch_size = batch_size
        self.out = Fingerprints()

    def run(self, stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
        for batch in batched(stream, self.batch_size):
            texts = [dedup_text(c) for c in batch]
            # Serialised and hashed once per record, for all three keys (schemas can be most of a record).
            tkeys = [tools_key(c.get("tools")) for c in batch]
            self.out.hashes.append(np.array([exact_key(c, k) for c, k in zip(batch, tkeys, strict=True)], np.int64))
            self.out.lengths.append(np.array([len(t) for t in texts], dtype=np.int64))
            prompts = [prompt_key(c, k) for c, k in zip(batch, tkeys, strict=True)]
            self.out.prompt_hashes.append(np.array(prompts, dtype=np.int64))
            if self.with_signatures:
                sig = signatures(texts, self.ngram, self.num_perm)
                self.out.signatures.append(sig)
                tools = np.array(tkeys, dtype=np.int64).view(np.uint64)
                # Same band, other tools -> another key: LSH never pairs records offering different tools.
                self.out.band_keys.append(all_band_keys(sig, self.bands, self.rows) ^ tools[:, None])
            else:
                self.out.signatures.append(np.zeros((len(batch), 0), dtype=np.uint32))
                self.out.band_keys.append(np.zeros((len(batch), 0), dtype=np.uint64))
            yield from batch


def keep_rank(source_idx: np.ndarray, lengths: np.ndarray, priority: list[str]) -> np.ndarray:
    """Rank of each row (0 = kept first) under the keep priority; ties go to the earlier row."""
    position = np.arange(len(source_idx))
    keys = {"source_order": source_idx, "longest": -lengths}
    # np.lexsort sorts by the last key first.
    order = np.lexsort([position] + [keys[p] for p in reversed(priority)])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _best_of_groups(group: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For each row, the row with the lowest rank in its group (group ids arbitrary ints)."""
    order = np.lexsort((rank, group))
    g = group[order]
    starts = np.r_[True, g[1:] != g[:-1]]
    head_of_sorted = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
    best = np.empty(len(order), dtype=np.int64)
    best[order] = head_of_sorted
    return best


def plan_exact(hashes: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """`keeper[i]` = the row kept for row i's exact duplicate group (i itself when kept)."""
    if len(hashes) == 0:
        return np.zeros(0, dtype=np.int64)
    return _best_of_groups(hashes, rank)


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false-positive + false-negative area of the LSH S-curve.

    Equal weights reproduce datasketch's choice (9 x 13 at 0.8 / 128), which finds only 40 % of pairs
    at exactly the threshold. When candidates are verified, false positives are cheap, so the build
    weights false negatives 0.95 (16 x 8: 95 % found at the threshold).
    """

    def area(f, a: float, b: float) -> float:  # trapezoid integration, 200 steps
        xs = np.linspace(a, b, 201)
        ys = f(xs)
        return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2)

    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = area(lambda s, b=b, r=r: 1 - (1 - s**r) ** b, 0.0, threshold)
            fn = area(lambda s, b=b, r=r: 1 - (1 - (1 - s**r) ** b), threshold, 1.0)
            err = (1 - false_negative_weight) * fp + false_negative_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


def all_band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """[n, bands] uint64: what the LSH index needs in memory (the signatures can stay on disk).

    Equal band -> equal key; different bands of equal values get different keys.
    """
    n = len(sig)
    if n == 0 or bands == 0:
        return np.zeros((n, bands), np.uint64)
    values = np.ascontiguousarray(sig[:, : bands * rows]).reshape(n, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        values *= odd_constants(3, rows)
        keys = values.sum(axis=2, dtype=np.uint64) + odd_constants(4, bands)
    return mix64(keys)


def run_edges(rows: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LSH edges inside runs of equal keys: `rows` sorted so each run is contiguous (ascending within
    it), `same[k]` true where rows[k + 1] continues rows[k]'s run. Each row is joined to the next one
    and to its run's first row: the clusters of all pairs, from O(run) edges."""
    idx = np.flatnonzero(same)
    starts = np.r_[True, ~same]
    head = rows[np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))]
    return np.r_[rows[idx], head[idx + 1]], np.r_[rows[idx + 1], rows[idx + 1]]


def candidate_pairs(keys_matrix: np.ndarray) -> np.ndarray:
    """Unique (i, j) pairs, i < j, that share at least one band: `run_edges` of each band's runs."""
    n, bands = keys_matrix.shape
    found = []
    slots = 1 << max(1, (2 * n - 1).bit_length())  # >= 2n: a key hashed to a slot nobody else has is unique
    for b in range(bands):
        keys = keys_matrix[:, b]
        slot = (keys & _U64(slots - 1)).astype(np.intp)
        maybe = np.flatnonzero(np.bincount(slot, minlength=slots)[slot] > 1)
        order = maybe[np.argsort(keys[maybe], kind="stable")]  # rows ascending within a run
        k = keys[order]
        i, j = run_edges(order, k[1:] == k[:-1])
        if len(i):
            found.append(i * n + j)
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.sort(np.concatenate(found))  # np.unique's hash table is ~10x slower on these codes
    codes = codes[np.r_[True, codes[1:] != codes[:-1]]]
    return np.stack([codes // n, codes % n], axis=1)


def signature_agreement(sig: np.ndarray, pairs: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Estimated Jaccard (share of equal MinHash values) for each pair."""
    out = np.empty(len(pairs), dtype=np.float32)
    for s in range(0, len(pairs), chunk):
        p = pairs[s : s + chunk]
        out[s : s + chunk] = np.count_nonzero(sig[p[:, 0]] == sig[p[:, 1]], axis=1) / sig.shape[1]
    return out


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Union-find over the pairs: a cluster label per row (the smallest row of its cluster)."""
    label = np.arange(n)
    if len(pairs) == 0:
        return label
    i, j = pairs[:, 0], pairs[:, 1]
    while True:
        li, lj = label[i], label[j]
        differ = li != lj
        if not differ.any():
            return label
        # Hook the larger root under the smaller (no cycles), then point every row at its root.
        np.minimum.at(label, np.maximum(li, lj)[differ], np.minimum(li, lj)[differ])
        while True:
            up = label[label]
            if np.array_equal(up, label):
                break
            label = up


def plan_near(
    keys: Any,
    sig: np.ndarray | None,
    rank: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    pairs_fn: Callable[[Any], np.ndarray] | None = None,
    texts: Callable[[np.ndarray], list[str]] | None = None,
    ngram: int = 5,
) -> np.ndarray:
    """`keeper[i]` for the candidate `rows` (global row numbers; i itself when kept).

    `keys` are the band keys of those rows (an array; on Ray, handles to them in the cluster, which
    only `pairs_fn` reads); `sig` (all rows, may be a disk memmap) verifies each
    LSH candidate pair against the threshold; None skips verification. `pairs_fn` finds the
    candidate pairs from the band keys (default `candidate_pairs`, in memory; the Ray executor
    passes a shuffle-based one) and must return them unique, sorted, i < j. With `texts` (the
    normalised texts of sorted global rows, see `exact_jaccard`), a candidate is kept when the exact
    Jaccard of its `ngram` shingle sets reaches the threshold; `sig` then only skips the exact check
    for pairs whose estimate is hopelessly low (`estimate_margin`).
    """
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = (pairs_fn or candidate_pairs)(keys)
    if sig is not None and len(pairs):
        floor = threshold if texts is None else threshold - estimate_margin(threshold, sig.shape[1])
        pairs = pairs[signature_agreement(sig, rows[pairs]) >= floor]
    if texts is not None and len(pairs):
        pairs = pairs[exact_jaccard(rows[pairs], texts, ngram) >= threshold]
    return rows[_best_of_groups(components(len(rows), pairs), rank[rows])]
