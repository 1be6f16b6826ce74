"""The curriculum trainer: one LoRA adapter continued through every phase, each with its own schedule.

Layout of OUT: adapter/ (final), phases/<phase>/adapter/ + phase.json, checkpoints/, metrics.jsonl,
train_summary.json; with `training.curriculum: false` the one phase is mixed_no_curriculum (`plan_mixture`).
Runs the same in one process or under `accelerate launch` (DDP, FSDP, DeepSpeed):
`training.batch_size` is per process, so the effective batch is batch_size x gradient_accumulation x
processes, and the loss is divided by the global count of loss-bearing tokens so that every token
weighs the same whichever process or micro-batch it lands in.
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emergent.config import RunConfig
from emergent.models import write_trained_on
from emergent.progress import counter_progress
from emergent.train import checkpoint as ckpt
from emergent.train import engine, resume_guard
from emergent.train.attention import flat_batches
from emergent.train.config import PhaseConfig, TrainingConfig
from emergent.train.data import (
    PhaseData,
    distinct_conversations,
    encode_phase,
    load_phase,
    missing_phase_files,
    phase_conversations,
    phase_file,
)
from emergent.train.loss import PackedLoss
from emergent.train.model import (
    add_adapter,
    choose_precision,
    compile_layers,
    load_model,
    load_tokenizer,
    save_adapter,
    saves_embeddings,
    use_training_fast_paths,
)
from emergent.train.packing import IGNORE, collate, loss_inputs
from emergent.train.schedule import make_scheduler, phase_steps
from emergent.train.validation import Validator, base_validation_loss, make_validator

OOM_HINT = (
    "out of memory — lower training.batch_size (raise training.gradient_accumulation to keep the "
    "effective batch), lower training.max_seq_len, or set model.gradient_checkpointing: true"
)


class RowOrder:
    """Which packed row sits at stream position p: epoch p // n, order a seeded shuffle per epoch."""

    def __init__(self, n_rows: int, seed: int) -> None:
        self.n = n_rows
        self.seed = seed
        self._perms: dict[int, list[int]] = {}

    def __getitem__(self, p: int) -> int:
        epoch, i = divmod(p, self.n)
        if epoch not in self._perms:
            self._perms = {epoch: random.Random(self.seed * 100_003 + epoch).sample(range(self.n), self.n)}
        return self._perms[epoch][i]


# The one phase of a `training.curriculum: false` run.
NO_CURRICULUM_PHASE = "mixed_no_curriculum"


def _steps(phase: PhaseConfig, t: TrainingConfig, data: PhaseData, per_step: int) -> int:
    """A phase's number of optimizer steps over its packed rows."""
    epochs, max_steps = phase.epochs or t.epochs_per_phase, phase.max_steps or t.max_steps_per_phase
    return phase_steps(len(data.rows), per_step, epochs, max_steps)


def _phase_plan(
    k: int, phase: PhaseConfig, t: TrainingConfig, data_dir: Path, tokenizer: Any, seed: int, per_step: int
) -> tuple[PhaseData, int]:
    """Phase k's rows and its number of optimizer steps."""
    data = load_phase(data_dir, phase, t, tokenizer, seed=seed * 1_000 + k)
    return data, _steps(phase, t, data, per_step)


@dataclass
class Mixture:
    """The no-curriculum control: the curriculum's conversations as one phase, for the curriculum's steps."""

    phase: PhaseConfig
    data: PhaseData
    steps: int
    curriculum: list[PhaseConfig]  # at the rates they would have trained at
    curriculum_steps: dict[str, int]
    rate_from: str

    def summary(self) -> dict:
        return {
            "learning_rate": self.phase.learning_rate,
            "learning_rate_from": self.rate_from,
            "steps": self.steps,
            "conversations": self.data.conversations,
            "curriculum": [
                {"name": p.name, "learning_rate": p.learning_rate, "steps": self.curriculum_steps[p.name]}
                for p in self.curriculum
            ],
        }


def plan_mixture(t: TrainingConfig, data_dir: Path, tokenizer: Any, seed: int, per_step: int) -> Mixture:
    """Every conversation the phases would train on, once, shuffled into one phase that takes as many
    steps as the curriculum (planned phase by phase as `train` plans them) at one peak rate."""
    curriculum = t.scaled_phases()
    # Each phase file read once: its conversations (as load_phase selects them) give both its step count
    # and its share of the mixture.
    groups = [phase_conversations(data_dir, p, t, seed * 1_000 + k) for k, p in enumerate(curriculum)]
    steps = {
        p.name: _steps(p, t, encode_phase(convs, t, tokenizer, phase_file(data_dir, p.name)), per_step)
        for p, convs in zip(curriculum, groups, strict=True)
    }
    convs = distinct_conversations(groups)
    random.Random(seed * 1_000 + len(curriculum)).shuffle(convs)
    total = sum(steps.values())
    if t.no_curriculum_learning_rate is not None:
        rate, rate_from = t.no_curriculum_learning_rate, "training.no_curriculum_learning_rate"
    else:
        # The same area under the peak rates as the curriculum: each phase's rate weighs by its steps.
        rate = sum(p.learning_rate * steps[p.name] for p in curriculum) / total
        rate_from = "step-weighted mean of the phase rates"
    return Mixture(
        phase=PhaseConfig(name=NO_CURRICULUM_PHASE, learning_rate=rate),
        data=encode_phase(convs, t, tokenizer, Path(data_dir) / "phases"),
        steps=total,
        curriculum=curriculum,
        curriculum_steps=steps,
        rate_from=rate_from,
    )


def _has_run(out: Path) -> bool:
    return (out / "phases").exists() or (out / "checkpoints").exists() or (out / "train_summary.json").exists()


def _trim_metrics(path: Path, phase_index: int, step: int) -> None:
    """Drop metric lines written after the point a resume restarts from (they will be written again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["phase_index"] < phase_index or (rec["phase_index"] == phase_index and rec["step"] <= step):
            keep.append(line)
    path.write_text("".join(f"{line}\n" for line in keep))


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)


def _restart_optimizer(optimizer: Any, learning_rate: float) -> torch.optim.Optimizer:
    """Make the run's optimizer a fresh AdamW at this phase's peak learning rate; returns the torch optimizer.

    Each phase is its own warmup + cosine run at its own peak LR (the seed's design): AdamW moments
    from the previous phase's data and LR would make the new phase's first steps follow the old
    gradient statistics instead of warming up from zero. Emptying the state is exactly a new AdamW,
    while the object stays the one FSDP / DeepSpeed were prepared with.
    """
    inner = engine.torch_optimizer(optimizer)
    inner.state.clear()
    for group in inner.param_groups:
        # The schedule starts from initial_lr, which a previous phase's schedule has already set.
        group["lr"] = group["initial_lr"] = learning_rate
    return inner


def _phase_summary(
    phase: PhaseConfig, data: PhaseData, stats: dict, total_steps: int, lr: float, validation: dict | None
) -> dict:
    return {
        "name": phase.name,
        "categories": phase.categories or sorted(data.categories),
        "learning_rate": lr,
        "steps": total_steps,
        "examples": len(data.examples),
        "examples_by_category": data.categories,
        "rows": len(data.rows),
        "truncated": data.truncated,
        "dropped": data.dropped,
        "tokens": stats["tokens"],
        "loss_tokens": stats["loss_tokens"],
        "loss_first": stats["loss_first"],
        "loss_last": stats["loss_last"],
        # Per loss-bearing token over the whole phase: first and last are single steps, noisy at small batches.
        "loss_mean": stats["loss_sum"] / stats["loss_tokens"]
        if stats.get("loss_sum") is not None and stats["loss_tokens"]
        else None,
        "seconds": round(stats["seconds"], 3),
        "tokens_per_s": round(stats["tokens"] / stats["seconds"], 1) if stats["seconds"] else None,
        "validation_loss": validation["loss"] if validation else None,
        "validation_by_category": validation["by_category"] if validation else None,
    }


# What a training run writes into OUT; --fresh removes exactly these.
RUN_OUTPUTS = ("phases", "checkpoints", "adapter", "metrics.jsonl", "validation.jsonl", "train_summary.json",
               resume_guard.RUN_SETTINGS)  # fmt: skip


def remove_run(out: Path) -> None:
    for name in RUN_OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def train(
    cfg: RunConfig, data_dir: Path, out: Path, resume: bool = False, show_progress: bool = True, fresh: bool = False
) -> dict:
    """Train the adapter through every phase of `cfg.training`; returns train_summary.json's content.

    `resume` continues an interrupted run (refused when its settings changed); `fresh` deletes a previous
    run in `out` first."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    t: TrainingConfig = cfg.training
    data_dir, out = Path(data_dir), Path(out)
    missing = missing_phase_files(data_dir, t.phases)
    if missing:
        raise FileNotFoundError(
            f"missing phase files: {', '.join(str(m) for m in missing)} — run `emergent data build CONFIG -o "
            f"{data_dir}` first, or point --data at a built data folder whose phases/ has one file per "
            "training.phases name"
        )
    if resume and fresh:
        raise ValueError("--resume continues a run and --fresh deletes it: pass one of them")
    if not resume and not fresh and _has_run(out):
        raise FileExistsError(
            f"{out} already holds a training run — pass --resume to continue it, --fresh to start it over, or "
            "choose another -o"
        )
    for tracker in t.report_to:
        if importlib.util.find_spec(tracker) is None:
            raise ValueError(f"training.report_to lists {tracker}, which is not installed — pip install {tracker}")
    seed = cfg.seed if t.seed is None else t.seed
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision, precision_warning = choose_precision(t.precision, device)
    mixed = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[precision]
    # accelerate keeps one process-wide state that refuses a second precision; each train() call sets
    # its own (the process group, in PartialState, is kept).
    AcceleratorState._reset_state()
    accelerator = Accelerator(
        mixed_precision=mixed, log_with=t.report_to or None, project_dir=str(out), **engine.accelerator_kwargs(device)
    )
    main, _rank, world = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    run_warnings = [precision_warning] if precision_warning else []
    if precision_warning and main:
        warnings.warn(precision_warning, RuntimeWarning, stacklevel=2)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = load_tokenizer(cfg.model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    torch.manual_seed(seed)  # the same LoRA initialisation in every process
    model = add_adapter(load_model(cfg.model, precision, accelerator.device), cfg.peft, cfg.model.name)
    plain_path = use_training_fast_paths(model, autocast=precision != "fp32")  # accelerate autocasts then
    if plain_path:
        run_warnings.append(plain_path)
        if main:
            warnings.warn(plain_path, RuntimeWarning, stacklevel=2)
    model.train()  # LoRA dropout on (from_pretrained has left models in eval mode in some versions)
    if t.compile:
        compile_layers(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    settings = resume_guard.run_settings(cfg, data_dir, world, seed)
    resume_guard.check_resume(out, settings, resume, _has_run(out))
    accelerator.wait_for_everyone()  # every process has checked before the main one touches OUT
    if main:
        if fresh:
            remove_run(out)
        resume_guard.record(out, settings)
    per_step = t.batch_size * t.gradient_accumulation * world
    mixture = None if t.curriculum else plan_mixture(t, data_dir, tokenizer, seed, per_step)
    phases = [mixture.phase] if mixture else t.scaled_phases()
    # One optimizer for the run, prepared together with the model: FSDP2 and DeepSpeed point it at the
    # sharded parameters they create. Every phase restarts it (`_restart_optimizer`).
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=phases[0].learning_rate, betas=t.adam_betas, eps=t.adam_epsilon, weight_decay=t.weight_decay,
    )  # fmt: skip
    engine.configure(accelerator, t.batch_size, t.gradient_accumulation, t.max_grad_norm)
    wrapped, optimizer = accelerator.prepare(PackedLoss(model), optimizer)
    # Taken after prepare: FSDP replaces parameters with sharded ones.
    params = [p for p in wrapped.parameters() if p.requires_grad]
    if t.report_to:
        accelerator.init_trackers(cfg.name, config={"lora_r": cfg.peft.r, "seed": seed, "world_size": world})

    # Where a resume restarts: the first unfinished phase, at its latest complete checkpoint.
    done: dict[str, dict] = {}
    for phase in phases:
        marker = ckpt.phase_done_file(out, phase.name)
        if not (resume and marker.is_file()):
            break
        done[phase.name] = json.loads(marker.read_text())
    metrics_path, validation_path = out / "metrics.jsonl", out / "validation.jsonl"
    if resume and main:
        k0 = len(done)
        ck = ckpt.list_checkpoints(out, phases[k0].name) if k0 < len(phases) else []
        _trim_metrics(metrics_path, k0, ck[-1][0] if ck else 0)
        _trim_metrics(validation_path, k0, ck[-1][0] if ck else 0)
    elif main:
        metrics_path.unlink(missing_ok=True)
        validation_path.unlink(missing_ok=True)
    accelerator.wait_for_everyone()
    validator = make_validator(
        t, data_dir, tokenizer, pad_id, accelerator, model, wrapped, validation_path, run_warnings
    )
    base_validation = base_validation_loss(validator, accelerator, validation_path, resume)

    summaries: list[dict] = []
    global_step = 0
    weights_from: Path | None = None  # adapter to load before the next phase that actually trains
    with counter_progress(show_progress and main) as progress:
        for k, phase in enumerate(phases):
            adapter_dir = out / "phases" / phase.name / "adapter"
            if phase.name in done:
                summaries.append(done[phase.name])
                global_step += done[phase.name]["steps"]
                weights_from = adapter_dir
                continue
            if mixture:
                data, steps = mixture.data, mixture.steps
            else:
                data, steps = _phase_plan(k, phase, t, data_dir, tokenizer, seed, per_step)
            summary = _train_phase(
                k, phase, cfg, accelerator, model, wrapped, params, optimizer, data, steps, pad_id, out,
                seed, resume, weights_from, global_step, metrics_path, progress, validator,
            )  # fmt: skip
            weights_from = None
            global_step += summary["steps"]
            summaries.append(summary)
            lora = engine.lora_state(accelerator, wrapped)
            if main:
                # The adapter first, phase.json last: phase.json marks the phase finished for --resume.
                save_adapter(model, adapter_dir, lora)
                tokenizer.save_pretrained(adapter_dir)  # with its chat template: others render as training did
                write_trained_on(adapter_dir, cfg.model.name)
                ckpt.phase_done_file(out, phase.name).write_text(json.dumps(summary, indent=2))
                ckpt.prune_checkpoints(out, phase.name, keep=0)
            accelerator.wait_for_everyone()

    last = out / "phases" / phases[-1].name / "adapter"
    result = {
        "model": cfg.model.name,
        "peft": cfg.peft.model_dump(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": precision,
        "world_size": world,
        "distributed": accelerator.distributed_type.value,  # NO, MULTI_CPU, MULTI_GPU (DDP), FSDP, DEEPSPEED
        "packing": t.packing,
        "max_seq_len": t.max_seq_len,
        "effective_batch": t.batch_size * t.gradient_accumulation * world,
        "trainable_parameters": trainable,
        "lr_scale": t.lr_scale,
        "curriculum": t.curriculum,
        "no_curriculum": mixture.summary() if mixture else None,
        "phases": summaries,
        "total_steps": global_step,
        "seconds": round(sum(s["seconds"] for s in summaries), 3),
        "adapter": str(out / "adapter"),
        "validation": {
            "examples": len(validator.data.examples),
            "loss_tokens": validator.data.loss_tokens,
            "categories": dict(sorted(Counter(validator.data.categories).items())),
            "dropped": validator.data.dropped,
            "base": base_validation,
            # .get: phases finished (and resumed past) by a version without validation have no such keys.
            "final": {
                "loss": summaries[-1].get("validation_loss"),
                "by_category": summaries[-1].get("validation_by_category"),
            },
            "log": "validation.jsonl",
        }
        if validator
        else None,
        "warnings": run_warnings,
    }
    if main:
        _copy_atomic(last, out / "adapter")
        (out / "train_summary.json").write_text(json.dumps(result, indent=2))
    accelerator.wait_for_everyone()
    if t.report_to:
        accelerator.end_training()
    return result


def _train_phase(
    k: int,
    phase: PhaseConfig,
    cfg: RunConfig,
    accelerator: Any,
    model: Any,
    wrapped: torch.nn.Module,
    params: list[torch.nn.Parameter],
    optimizer: Any,
    data: PhaseData,
    total_steps: int,
    pad_id: int,
    out: Path,
    seed: int,
    resume: bool,
    weights_from: Path | None,
    global_step: int,
    metrics_path: Path,
    progress: Any,
    validator: Validator | None,
) -> dict:
    from safetensors.torch import load_file

    t = cfg.training
    main, rank, world = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    per_step = t.batch_size * t.gradient_accumulation * world
    # Padding-free micro-batches where attention takes conversation boundaries from cu_seqlens.
    flat = flat_batches(t.packing, model)
    scheduler = make_scheduler(t.lr_scheduler, _restart_optimizer(optimizer, phase.learning_rate), t.warmup_ratio,
                               total_steps)  # fmt: skip
    order = RowOrder(len(data.rows), seed * 1_000 + k)

    stats = {"tokens": 0, "loss_tokens": 0, "loss_sum": 0.0, "loss_first": None, "loss_last": None, "seconds": 0.0}
    start = 0
    found = ckpt.list_checkpoints(out, phase.name) if resume else []
    if found:
        step_done, folder = found[-1]
        weights, opt_state, sched_state, state, rng = ckpt.read_checkpoint(folder, rank)
        engine.load_adapter(accelerator, model, wrapped, weights, folder)
        engine.load_state(accelerator, wrapped, optimizer, folder, opt_state)
        scheduler.load_state_dict(sched_state)
        ckpt.set_rng_state(rng)
        stats = {"loss_sum": None, **state["stats"]}  # checkpoints from before loss_sum: no phase mean
        start = state["step"]
    else:
        if weights_from is not None:
            weights = load_file(weights_from / "adapter_model.safetensors")
            engine.load_adapter(accelerator, model, wrapped, weights, weights_from)
        # Seeded per phase (not carried over), so a resume that starts this phase afresh draws the same dropout.
        torch.manual_seed(seed * 1_000 + k * 10 + rank)
        random.seed(seed * 1_000 + k)

    task = progress.add_task(phase.name, total=total_steps, completed=start)
    for step in range(start, total_steps):
        began = time.perf_counter()
        micro = []
        for m in range(t.gradient_accumulation):
            first = step * per_step + (m * world + rank) * t.batch_size
            rows = [data.rows[order[p]] for p in range(first, first + t.batch_size)]
            micro.append(collate([[data.examples[i] for i in row] for row in rows], pad_id, flat=flat))
        local = torch.tensor(
            [sum(int((b["targets"] != IGNORE).sum()) for b in micro), sum(int(b["real_tokens"]) for b in micro)],
            device=accelerator.device,
        )
        loss_tokens, real_tokens = (int(x) for x in accelerator.reduce(local, "sum"))
        # DDP averages gradients over processes, hence the factor `world`.
        scale = world / max(loss_tokens, 1)
        loss_sum = torch.zeros((), device=accelerator.device)
        try:
            for m, batch in enumerate(micro):
                sync = m == len(micro) - 1
                with engine.accumulating(accelerator, wrapped, last=sync):
                    part, _n = wrapped(*loss_inputs(batch, accelerator.device))
                    engine.backward(accelerator, part * scale, last=sync)
                loss_sum += part.detach()
        except torch.OutOfMemoryError:
            raise RuntimeError(f"phase {phase.name}, step {step + 1}: {OOM_HINT}") from None
        grad_norm = accelerator.clip_grad_norm_(params, t.max_grad_norm) if t.max_grad_norm else None
        lr = engine.torch_optimizer(optimizer).param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss_sum = float(accelerator.reduce(loss_sum, "sum"))
        loss = step_loss_sum / max(loss_tokens, 1)
        seconds = time.perf_counter() - began

        stats["tokens"] += real_tokens
        stats["loss_tokens"] += loss_tokens
        if stats["loss_sum"] is not None:
            stats["loss_sum"] += step_loss_sum
        stats["seconds"] += seconds
        stats["loss_first"] = loss if stats["loss_first"] is None else stats["loss_first"]
        stats["loss_last"] = loss
        done_steps = step + 1
        record = {
            "phase": phase.name,
            "phase_index": k,
            "step": done_steps,
            "global_step": global_step + done_steps,
            "loss": round(loss, 6),
            "learning_rate": lr,
            "grad_norm": float(grad_norm) if grad_norm is not None else None,
            "tokens": real_tokens,
            "loss_tokens": loss_tokens,
            "tokens_per_s": round(real_tokens / seconds, 1),
            "seconds": round(seconds, 4),
        }
        if main and (done_steps % t.log_every_steps == 0 or done_steps == total_steps):
            with metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if t.report_to:
                accelerator.log(
                    {f"train/{k_}": v for k_, v in record.items() if isinstance(v, (int, float))},
                    step=record["global_step"],
                )
        progress.update(
            task,
            advance=1,
            description=f"{phase.name} loss {loss:.4f} lr {lr:.2e} {record['tokens_per_s']:,.0f} tok/s",
        )
        every = t.validation.every_steps
        if validator and every and done_steps % every == 0 and done_steps < total_steps:
            # Before the checkpoint: a resume from it continues after this record, never repeats it.
            validator(phase.name, k, done_steps, global_step + done_steps)
        if done_steps % t.checkpoint_every_steps == 0 and done_steps < total_steps:
            _save_checkpoint(
                accelerator,
                wrapped,
                model,
                optimizer,
                scheduler,
                out,
                k,
                phase.name,
                done_steps,
                stats,
                t.keep_checkpoints,
            )
    validation = validator(phase.name, k, total_steps, global_step + total_steps) if validator else None
    return _phase_summary(phase, data, stats, total_steps, phase.learning_rate, validation)


def _save_checkpoint(
    accelerator: Any,
    wrapped: Any,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    out: Path,
    k: int,
    name: str,
    step: int,
    stats: dict,
    keep: int,
) -> None:
    final = ckpt.checkpoint_dir(out, name, step)
    tmp = final.with_name(".tmp-" + final.name)
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    ckpt.write_rng(tmp, accelerator.process_index)
    from peft import get_peft_model_state_dict

    lora = engine.lora_state(accelerator, wrapped)
    weights = (
        get_peft_model_state_dict(model, state_dict=lora, save_embedding_layers=saves_embeddings(model)) if lora else {}
    )
    opt_state = engine.save_state(accelerator, wrapped, optimizer, tmp)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {"phase": name, "phase_index": k, "step": step, "stats": stats}
        ckpt.write_checkpoint(tmp, final, weights, opt_state, scheduler, state)
        ckpt.prune_checkpoints(out, name, keep=keep)
    accelerator.wait_for_everyone()
