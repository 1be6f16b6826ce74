"""Validation loss on the held-out set `emergent data build` writes (RUN/data/validation.parquet).

No phase file holds these conversations, so their loss says whether the adapter learned something
that carries over, per behavioural bucket. The loss of each conversation is its summed cross-entropy
over its assistant tokens, exactly as in training (same rendering, same masking, no dropout); the
loss of a bucket or of the whole set is per token (sum over the conversations / their tokens).

The trainer measures it before the first step (the base model: a fresh LoRA adds zero) and at the end
of every phase; `emergent eval` measures it again per conversation for its base-vs-adapter intervals.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emergent.data.store import VALIDATION_FILE, read_conversations
from emergent.train.attention import flat_batches
from emergent.train.config import TrainingConfig
from emergent.train.packing import collate, loss_inputs, one_per_row, pack
from emergent.train.render import Example, encode


@dataclass
class ValidationSet:
    """Tokenised held-out conversations, their buckets, and rows of example indices."""

    examples: list[Example]
    categories: list[str]
    rows: list[list[int]]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def loss_tokens(self) -> int:
        return sum(e.loss_tokens for e in self.examples)


def validation_file(data_dir: Path) -> Path:
    return Path(data_dir) / VALIDATION_FILE


def load_validation(
    path: Path, tokenizer: Any, max_seq_len: int, max_examples: int | None = None, packing: bool = True
) -> ValidationSet | None:
    """The held-out set ready to score, or None where the build wrote none (or it is empty).

    Long conversations are truncated as in training; one with no assistant token left is counted and
    left out. With `max_examples` the first ones are taken per bucket in turn, so every bucket stays.
    """
    if not Path(path).is_file():
        return None
    by_category: dict[str, list[dict]] = {}
    for conv in read_conversations(path):
        by_category.setdefault(conv.get("_category") or "uncategorised", []).append(conv)
    convs = _round_robin(by_category, max_examples)
    examples, categories = [], []
    dropped: Counter[str] = Counter()
    for conv in convs:
        ex = encode(conv, tokenizer, max_seq_len)
        if ex.loss_tokens == 0:
            dropped["no_assistant_tokens_within_max_seq_len"] += 1
            continue
        examples.append(ex)
        categories.append(conv.get("_category") or "uncategorised")
    if not examples:
        return None
    # Rows never mix buckets: a short bucket still fills rows of its own, and the packing is the
    # same whichever process scores them.
    rows: list[list[int]] = []
    for cat in sorted(set(categories)):
        members = [i for i, c in enumerate(categories) if c == cat]
        lengths = [len(examples[i].input_ids) for i in members]
        rows += [
            [members[j] for j in row] for row in (pack(lengths, max_seq_len) if packing else one_per_row(len(members)))
        ]
    return ValidationSet(examples, categories, rows, dict(dropped))


def _round_robin(by_category: dict[str, list[dict]], limit: int | None) -> list[dict]:
    if limit is None:
        return [c for cat in sorted(by_category) for c in by_category[cat]]
    out: list[dict] = []
    queues = [list(by_category[cat]) for cat in sorted(by_category)]
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


@torch.no_grad()
def conversation_losses(
    loss_module: torch.nn.Module,
    data: ValidationSet,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    flat: bool = False,
    rank: int = 0,
    world: int = 1,
    reduce: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(summed loss, loss-token count) per conversation of `data`.

    `loss_module` is a `PackedLoss` (or what `accelerate.prepare` made of it). With several processes
    each scores its share of the micro-batches and `reduce` (a sum over processes) completes the
    vectors; every process runs the same number of forwards, because FSDP and ZeRO-3 gather weights
    inside each forward and a process that stopped early would leave the others waiting.
    """
    n = len(data.examples)
    sums = torch.zeros(n, dtype=torch.float64, device=device)
    counts = torch.zeros(n, dtype=torch.float64, device=device)
    batches = [data.rows[i : i + batch_size] for i in range(0, len(data.rows), batch_size)]
    calls = -(-len(batches) // world)
    was_training = loss_module.training
    loss_module.eval()  # no dropout
    try:
        for c in range(calls):
            b = c * world + rank
            mine = b < len(batches)
            rows = batches[b] if mine else batches[0]  # a repeated batch whose result is not used
            order = [i for row in rows for i in row]  # the loss tokens come in this order
            batch = collate([[data.examples[i] for i in row] for row in rows], pad_id, flat=flat)
            segments = torch.repeat_interleave(
                torch.arange(len(order)), torch.tensor([data.examples[i].loss_tokens for i in order])
            )
            part, tokens = loss_module(*loss_inputs(batch, device), segments=segments.to(device), n_segments=len(order))
            if mine:
                idx = torch.tensor(order, device=device)
                sums[idx] += part.double()
                counts[idx] += tokens.double()
    finally:
        loss_module.train(was_training)
    if reduce is not None:
        sums, counts = reduce(sums), reduce(counts)
    return sums.cpu().numpy(), counts.cpu().numpy()


def summarise(data: ValidationSet, sums: np.ndarray, counts: np.ndarray) -> dict:
    """Per-token loss of the whole set and of each bucket."""
    cats = np.array(data.categories)
    by_category = {
        cat: round(float(sums[cats == cat].sum() / counts[cats == cat].sum()), 6)
        for cat in sorted(set(data.categories))
    }
    return {
        "loss": round(float(sums.sum() / counts.sum()), 6),
        "by_category": by_category,
        "examples": len(data.examples),
        "loss_tokens": int(counts.sum()),
    }


class Validator:
    """Scores the held-out set during training and appends each result to OUT/validation.jsonl."""

    def __init__(
        self,
        data: ValidationSet,
        accelerator: Any,
        loss_module: torch.nn.Module,
        batch_size: int,
        pad_id: int,
        flat: bool,
        path: Path,
        trackers: bool,
    ) -> None:
        self.data, self.accelerator, self.loss_module = data, accelerator, loss_module
        self.batch_size, self.pad_id, self.flat, self.path, self.trackers = batch_size, pad_id, flat, path, trackers

    def __call__(self, phase: str, phase_index: int, step: int, global_step: int) -> dict:
        acc = self.accelerator
        began = time.perf_counter()
        try:
            sums, counts = conversation_losses(
                self.loss_module, self.data, self.batch_size, self.pad_id, acc.device, self.flat,
                acc.process_index, acc.num_processes, reduce=(lambda x: acc.reduce(x, "sum")) if acc.num_processes > 1 else None,
            )  # fmt: skip
        except torch.OutOfMemoryError:
            raise RuntimeError(
                f"validation ({phase}, step {step}): out of memory — lower training.validation.batch_size "
                f"(now {self.batch_size} rows per forward) or training.max_seq_len"
            ) from None
        result = summarise(self.data, sums, counts)
        record = {"phase": phase, "phase_index": phase_index, "step": step, "global_step": global_step, **result}
        record["seconds"] = round(time.perf_counter() - began, 3)
        if acc.is_main_process:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if self.trackers:
                logged = {"validation/loss": result["loss"]}
                logged.update({f"validation/{cat}": v for cat, v in result["by_category"].items()})
                acc.log(logged, step=global_step)
        return result


def read_log(path: Path) -> list[dict]:
    """OUT/validation.jsonl's records (none when the run had no validation set)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_validator(
    t: TrainingConfig,
    data_dir: Path,
    tokenizer: Any,
    pad_id: int,
    accelerator: Any,
    model: Any,
    wrapped: torch.nn.Module,
    path: Path,
    run_warnings: list[str],
) -> Validator | None:
    """The trainer's validator, or None (switched off, or no held-out set: then a warning, not an error,
    since data built before validation sets existed trains as before)."""
    if not t.validation.enabled:
        return None
    file = validation_file(data_dir)
    data = load_validation(file, tokenizer, t.max_seq_len, t.validation.max_examples, packing=t.packing)
    if data is None:
        message = (
            f"no validation loss: {file} is missing or holds no scorable conversation — rebuild the data "
            "(curate.validation.examples_per_category > 0) or set training.validation.enabled: false"
        )
        run_warnings.append(message)
        if accelerator.is_main_process:
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        return None
    flat = flat_batches(t.packing, model)
    return Validator(data, accelerator, wrapped, t.validation.batch_size or t.batch_size, pad_id, flat, path,
                     trackers=bool(t.report_to))  # fmt: skip


def base_validation_loss(validator: Validator | None, accelerator: Any, path: Path, resume: bool) -> dict | None:
    """The held-out loss before any training step (a fresh LoRA adds zero: the base model's).

    On a resume it is read back from the log. The main process decides and every process follows:
    the scoring is collective, and other nodes may not see the log file.
    """
    if validator is None:
        return None
    logged = (
        next((r for r in read_log(path) if r["global_step"] == 0), None)
        if resume and accelerator.is_main_process
        else None
    )
    need = torch.tensor([float(accelerator.is_main_process and logged is None)], device=accelerator.device)
    if accelerator.num_processes > 1:
        need = accelerator.reduce(need, "sum")
    if float(need[0]) > 0:
        return validator("base", 0, 0, 0)
    return logged and {k: logged[k] for k in ("loss", "by_category", "examples", "loss_tokens")}
