"""Shingling and MinHash are vectorised with numpy over a whole batch of texts: every word gets a
64-bit polynomial hash of its UTF-8 bytes (prefix sums over the batch's bytes), n consecutive word
hashes combine into a shingle hash, and each of the `num_perm` permutations is a multiplication by
an odd 32-bit constant, minimised per text. Every value is a function of the text alone, so results
do not depend on how texts are batched or on the number of workers.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MINHASH_SEED = 42
_U64 = np.uint64
_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """One step of splitmix64: a well-mixed 64-bit constant from any integer (pure Python, stable forever)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over a uint64 array (in place): every output bit depends on every input bit."""
    with np.errstate(over="ignore"):
        h ^= h >> _U64(30)
        h *= _U64(0xBF58476D1CE4E5B9)
        h ^= h >> _U64(27)
        h *= _U64(0x94D049BB133111EB)
        h ^= h >> _U64(31)
    return h


@lru_cache(maxsize=16)
def odd_constants(tag: int, count: int, bits: int = 64) -> np.ndarray:
    """`count` odd constants of `bits` bits derived from MINHASH_SEED and a tag (never from numpy's RNG,
    whose streams may change between versions)."""
    values = [(_splitmix64(MINHASH_SEED * 1_000_003 + tag * 65_537 + i) >> (64 - bits)) | 1 for i in range(count)]
    return np.array(values, dtype=np.uint64 if bits == 64 else np.uint32)


# Word hash: sum of byte_k * BASE^(len-1-k) mod 2^64, from prefix sums over a batch's bytes.
_BASE = _splitmix64(1) | 1
_BASE_INV = pow(_BASE, -1, 1 << 64)
# Bytes that str.split() treats as whitespace (\t\n\v\f\r, \x1c-\x1f, space): word boundaries.
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
# Bytes per prefix-sum segment: its power tables (8 MiB each) are computed once per process.
_SEGMENT_BYTES = 1 << 20
_EMPTY_SHINGLE = _splitmix64(2)


def _powers(base: int, n: int) -> np.ndarray:
    """base^0 .. base^(n-1) mod 2^64; the segment-sized table is computed once per process."""
    if n <= _SEGMENT_BYTES:
        return _segment_powers(base)[:n]
    with np.errstate(over="ignore"):
        return np.r_[np.uint64(1), np.cumprod(np.full(n - 1, base, dtype=np.uint64))]


@lru_cache(maxsize=2)
def _segment_powers(base: int) -> np.ndarray:
    return _powers(base, _SEGMENT_BYTES + 1)[:_SEGMENT_BYTES]


def _word_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A uint64 hash of each word data[starts[i]:ends[i]] (the same bytes give the same hash anywhere)."""
    out = np.empty(len(starts), dtype=np.uint64)
    w = 0
    while w < len(starts):
        # A segment of whole words of at most _SEGMENT_BYTES (or one longer word on its own).
        last = max(w + 1, int(np.searchsorted(ends, starts[w] + _SEGMENT_BYTES, side="right")))
        lo, hi = int(starts[w]), int(ends[last - 1])
        inv, pw = _powers(_BASE_INV, hi - lo), _powers(_BASE, hi - lo)
        prefix = np.zeros(hi - lo + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(data[lo:hi] * inv, out=prefix[1:])
            s, e = starts[w:last] - lo, ends[w:last] - lo
            out[w:last] = (prefix[e] - prefix[s]) * pw[e - 1]
        w = last
    return mix64(out)


def shingle_hashes(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every word n-gram shingle, shingles per text) of normalised texts, in text order.

    The same shingles as `shingles`: a text of fewer than n words is one shingle (an empty text too).
    """
    counts = np.zeros(len(texts), dtype=np.int64)
    if not texts:
        return np.zeros(0, dtype=np.uint64), counts
    data = np.frombuffer(("\n".join(texts) + "\n").encode(), dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    if len(newlines) != len(texts):  # a text with a newline is not normalised
        return shingle_hashes([" ".join(t.split()) for t in texts], n)
    # Normalised text has no control bytes, so "<= space" is the separator test; else the exact table.
    sep = data <= 32 if np.count_nonzero(data < 32) == len(texts) else _SEPARATOR[data]
    edge = np.flatnonzero(sep[1:] != sep[:-1]) + 1  # where runs of word / separator bytes start
    edge = np.concatenate([[0], edge, [len(data)]])
    word_run = ~sep[edge[:-1]]
    starts, ends = edge[:-1][word_run], edge[1:][word_run]
    words = _word_hashes(data, starts, ends)
    # Words before each text's closing newline -> each text's first word and word count.
    word_end = np.searchsorted(starts, newlines)
    word_start = np.r_[0, word_end[:-1]]
    nwords = word_end - word_start
    weights = odd_constants(1, n)
    combined = np.zeros(len(words), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            combined[: len(words) - j] += words[j:] * weights[j]
    # A window starting at one of the last n-1 words of a text runs into the next text.
    starts_window = np.ones(len(words), dtype=bool)
    for j in range(1, n):
        starts_window[(word_end - j)[nwords >= j]] = False
    short = np.flatnonzero((nwords > 0) & (nwords < n))
    if len(short):  # one shingle of all its words, from a window cut at the text's end
        first, k = word_start[short], nwords[short]
        h = np.zeros(len(short), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(n - 1):
                has = j < k
                h[has] += words[first[has] + j] * weights[j]
        combined[first] = h
        starts_window[first] = True
    hashes = mix64(combined[starts_window])
    counts[:] = np.maximum(nwords - n + 1, 1)
    empty = np.flatnonzero(nwords == 0)
    if len(empty):
        at = (np.cumsum(counts) - counts)[empty] - np.arange(len(empty))
        hashes = np.insert(hashes, at, _U64(_EMPTY_SHINGLE))
    return hashes, counts


def shingles(text: str, n: int) -> list[str]:
    """Word n-grams of normalised text; a text shorter than n words is one shingle (the readable twin of
    `shingle_hashes`, for ground truth in tests and benchmarks)."""
    toks = text.split()
    if len(toks) <= n:
        return [" ".join(toks)]
    return list(map(" ".join, zip(*(toks[i:] for i in range(n)), strict=False)))


# Shingle rows multiplied at once: 2048 x 128 uint32 products (1 MiB) stay in the CPU cache.
_BLOCK_ROWS = 2048


def _padded_counts(counts: np.ndarray) -> np.ndarray:
    """Shingle counts rounded up so texts group into few equal lengths (at most 1/8 extra work)."""
    step = np.where(counts <= 16, 1, 1 << np.maximum(np.log2(np.maximum(counts, 1)).astype(np.int64) - 3, 0))
    return -(-counts // step) * step


def _min_hashes(x: np.ndarray, counts: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """[texts, perms]: per text, the minimum over its shingles x of (x * mult[k]) mod 2^32."""
    out = np.empty((len(counts), len(mult)), dtype=np.uint32)
    offsets = np.cumsum(counts) - counts
    padded = _padded_counts(counts)
    order = np.argsort(padded, kind="stable")
    group = np.flatnonzero(np.r_[True, padded[order][1:] != padded[order][:-1], True])
    for a, b in zip(group[:-1], group[1:], strict=False):
        length = int(padded[order[a]])
        if length > _BLOCK_ROWS:  # long texts one at a time, a block of shingles at a time
            for t in order[a:b]:
                rows = x[offsets[t] : offsets[t] + counts[t]]
                out[t] = np.minimum.reduce(
                    [(rows[s : s + _BLOCK_ROWS, None] * mult).min(axis=0) for s in range(0, len(rows), _BLOCK_ROWS)]
                )
            continue
        # Texts of one padded length as a [texts, length, perms] block; padding repeats the last
        # shingle, which cannot change a minimum.
        texts = order[a:b]
        take = np.minimum(np.arange(length), counts[texts, None] - 1) + offsets[texts, None]
        per = max(1, _BLOCK_ROWS // length)
        for s in range(0, len(texts), per):
            out[texts[s : s + per]] = (x[take[s : s + per]][:, :, None] * mult).min(axis=1)
    return out


def signatures(texts: list[str], ngram: int, num_perm: int) -> np.ndarray:
    """MinHash signatures (uint32, one row per text) of normalised texts.

    Permutation k maps a shingle's 32-bit hash x to (a_k * x) mod 2^32 with a_k odd: a bijection, so
    each of the num_perm minima agrees between two texts with probability equal to their Jaccard.
    """
    if not texts:
        return np.zeros((0, num_perm), dtype=np.uint32)
    hashes, counts = shingle_hashes(texts, ngram)
    return _min_hashes((hashes >> _U64(32)).astype(np.uint32), counts, odd_constants(2, num_perm, bits=32))
