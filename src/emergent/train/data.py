"""A phase's training rows: read its Parquet file, shuffle (seeded), render, tokenise, pack."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergent.config import Phase
from emergent.data.store import read_conversations
from emergent.lm.packing import one_per_row, pack
from emergent.lm.render import Example, encode
from emergent.schema import make_id
from emergent.train.config import TrainingConfig


@dataclass
class PhaseData:
    """Tokenised examples of one phase and how they are grouped into rows."""

    examples: list[Example]
    rows: list[list[int]]
    conversations: int = 0
    truncated: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    # For each example, the index of its conversation in the list it was encoded from.
    conversation_index: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)


def phase_file(data_dir: Path, phase: str) -> Path:
    return Path(data_dir) / "phases" / f"{phase}.parquet"


def missing_phase_files(data_dir: Path, phases: list[Phase]) -> list[Path]:
    return [phase_file(data_dir, p.name) for p in phases if not phase_file(data_dir, p.name).is_file()]


def phase_conversations(data_dir: Path, phase: Phase, training: TrainingConfig, seed: int) -> list[dict]:
    """The conversations `phase` trains on: its file, shuffled (seeded), cut to its max_examples."""
    convs = list(read_conversations(phase_file(data_dir, phase.name)))
    random.Random(seed).shuffle(convs)
    limit = phase.max_examples or training.max_examples_per_phase
    return convs[:limit] if limit else convs


def load_phase(data_dir: Path, phase: Phase, training: TrainingConfig, tokenizer: Any, seed: int) -> PhaseData:
    """Rows for `phase`; examples with no assistant token left (after truncation) are dropped and counted."""
    convs = phase_conversations(data_dir, phase, training, seed)
    return encode_phase(convs, training, tokenizer, phase_file(data_dir, phase.name))


def distinct_conversations(groups: Iterable[list[dict]]) -> list[dict]:
    """Each conversation once, in first-seen order: the curate stage repeats earlier phases' records
    (same `_id`) in the phases that mix every category. A record without an `_id` (a hand-written
    file) is keyed by the id its content would get."""
    seen: set[str] = set()
    out = []
    for conv in itertools.chain.from_iterable(groups):
        key = conv.get("_id") or make_id(conv.get("_source") or "", conv["messages"], conv.get("tools"))
        if key not in seen:
            seen.add(key)
            out.append(conv)
    return out


def encode_phase(convs: list[dict], training: TrainingConfig, tokenizer: Any, path: Path) -> PhaseData:
    """Tokenise and pack `convs` (read from `path`, named in errors) into a phase's rows."""
    examples: list[Example] = []
    index: list[int] = []
    dropped: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    truncated = 0
    for i, conv in enumerate(convs):
        try:
            ex = encode(conv, tokenizer, training.max_seq_len, last_turn_only=training.mask_history)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        if ex.truncated and training.overlong == "drop":
            dropped["overlong"] += 1
            continue
        if ex.loss_tokens == 0:
            dropped["no_assistant_tokens_within_max_seq_len"] += 1
            continue
        truncated += ex.truncated
        categories[conv.get("_category") or "uncategorised"] += 1
        examples.append(ex)
        index.append(i)
    if not examples:
        raise ValueError(
            f"{path}: no trainable conversation ({len(convs)} read, dropped {dict(dropped)}) — "
            "check the phase file or raise training.max_seq_len"
        )
    lengths = [len(e.input_ids) for e in examples]
    rows = pack(lengths, training.max_seq_len) if training.packing else one_per_row(len(examples))
    return PhaseData(
        examples=examples,
        rows=rows,
        conversations=len(convs),
        truncated=truncated,
        dropped=dict(dropped),
        categories=dict(categories),
        conversation_index=index,
    )
