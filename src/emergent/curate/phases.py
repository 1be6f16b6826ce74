"""Which kept rows each curriculum phase trains on, which are held out for validation, and the seeded
shuffle each file is written in. Decided on per-row arrays (status, bucket, prompt hash) only."""

from __future__ import annotations

import numpy as np

from emergent.config import RunConfig
from emergent.curate.dedup import prompt_text
from emergent.schema import CATEGORIES
from emergent.text import exact_hash

# The prompt hash of a conversation without user text: such conversations share no prompt.
NO_PROMPT = exact_hash(prompt_text({"messages": []}))
# A held-out conversation takes the other answers to its prompt with it, up to this many in all.
MAX_SHARED_PROMPT = 8
# The validation draw and its file's shuffle have their own seed stream, so changing the phases
# never changes the validation set (phase p shuffles with [seed, p]).
VALIDATION_STREAM = 7919


def validation_rows(cfg: RunConfig, kept: np.ndarray, category: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """Which kept rows are held out for validation: per bucket a seeded draw of
    min(examples_per_category, floor(max_fraction x bucket size)) rows, then every kept row that
    shares a prompt with one of them (counsel-chat answers a question several times on purpose: a
    second answer in training would leak the held-out prompt). A drawn row whose prompt more than
    MAX_SHARED_PROMPT rows share is not held out."""
    v = cfg.curate.validation
    held = np.zeros(len(kept), dtype=bool)
    for c in range(len(CATEGORIES)):
        rows = np.nonzero(kept & (category == c))[0]
        take = min(v.examples_per_category, int(len(rows) * v.max_fraction))
        if take:
            held[rows[np.random.default_rng([cfg.seed, VALIDATION_STREAM, c]).permutation(len(rows))[:take]]] = True
    # A held row whose prompt many kept rows share ("Write a poem." answered a thousand times) goes
    # back to training: taking its whole group would drain the bucket into the validation set.
    values, sizes = np.unique(prompts[kept], return_counts=True)
    big = values[sizes > MAX_SHARED_PROMPT]
    held &= ~np.isin(prompts, big)
    shared = prompts[held & (prompts != NO_PROMPT)]  # conversations without a user turn share no prompt
    return held | (kept & np.isin(prompts, shared))


def _shuffle_positions(member: np.ndarray, seed: list[int]) -> np.ndarray:
    """Each member row's position in a seeded shuffle (-1: not a member)."""
    rows = np.nonzero(member)[0]
    pos = np.full(len(member), -1, dtype=np.int64)
    pos[rows] = np.random.default_rng(seed).permutation(len(rows))
    return pos


def file_positions(cfg: RunConfig, members: list[np.ndarray], held: np.ndarray) -> list[np.ndarray]:
    """Row positions in each phase file's seeded shuffle, then in the validation file's."""
    positions = [_shuffle_positions(m, [cfg.seed, p]) for p, m in enumerate(members)]
    return positions + [_shuffle_positions(held, [cfg.seed, VALIDATION_STREAM])]


def phase_members(cfg: RunConfig, kept: np.ndarray, category: np.ndarray, held: np.ndarray) -> list[np.ndarray]:
    """Per phase, which rows it trains on: the kept rows of its buckets, never a validation row."""
    out = []
    for phase in cfg.curriculum.phases:
        member = kept & ~held
        if not phase.every_bucket:
            member &= np.isin(category, [CATEGORIES.index(c) for c in phase.categories])
        out.append(member)
    return out
