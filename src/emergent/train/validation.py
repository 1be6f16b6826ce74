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
from pathlib import Path
from typing import Any

import torch

from emergent.data.store import VALIDATION_FILE, read_conversations
from emergent.handoff import validation_line
from emergent.lm.attention import flat_batches
from emergent.lm.scoring import ValidationSet, conversation_losses, encode_held_out, summarise
from emergent.train.config import TrainingConfig


def validation_file(data_dir: Path) -> Path:
    return Path(data_dir) / VALIDATION_FILE


def load_validation(
    path: Path, tokenizer: Any, max_seq_len: int, max_examples: int | None = None, packing: bool = True
) -> ValidationSet | None:
    """The build's held-out set ready to score, or None where the build wrote none (or it is empty)."""
    if not Path(path).is_file():
        return None
    return encode_held_out(read_conversations(path), tokenizer, max_seq_len, max_examples, packing)


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
            with self.path.open("a", encoding="utf-8") as f:
                f.write(validation_line(record))
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
    because `curate.validation.examples_per_category: 0` builds none on purpose)."""
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
