"""The curriculum trainer: one LoRA adapter continued through every phase, each with its own schedule.

Layout of OUT: adapter/ (final), phases/<phase>/adapter/ + phase.json, checkpoints/, metrics.jsonl,
train_summary.json. Runs the same in one process or under `accelerate launch` (DDP, FSDP, DeepSpeed):
`training.batch_size` is per process, so the effective batch is batch_size x gradient_accumulation x
processes, and the loss is divided by the global count of loss-bearing tokens so that every token
weighs the same whichever process or micro-batch it lands in.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from emergent.config import RunConfig
from emergent.progress import counter_progress
from emergent.train import checkpoint as ckpt
from emergent.train.config import PhaseConfig, TrainingConfig
from emergent.train.data import PhaseData, load_phase, missing_phase_files
from emergent.train.loss import PackedLoss
from emergent.train.model import add_adapter, choose_precision, compile_layers, load_model, load_tokenizer
from emergent.train.packing import IGNORE, collate
from emergent.train.schedule import make_scheduler, phase_steps

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


def _whole_state_options() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # Whole (unsharded) tensors on the main process's CPU; other processes get {}.
    return StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)


def _lora_state(accelerator: Any, wrapped: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's LoRA tensors under PeftModel names, on the main process; collective.

    torch's distributed state-dict API gathers FSDP shards of the trainable tensors only, so the frozen
    base (16 GB for an 8B model) is never assembled; it reads plain and DDP models alike. DeepSpeed
    keeps its own partitioning, which accelerate knows how to gather.
    """
    from accelerate.utils import DistributedType
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        full = accelerator.get_state_dict(wrapped)
    else:
        full = get_model_state_dict(wrapped, options=_whole_state_options())
    return {k.removeprefix("model."): v for k, v in full.items() if "lora_" in k}


def _adapter_state(accelerator: Any, wrapped: torch.nn.Module, model: Any) -> dict[str, torch.Tensor]:
    from peft import get_peft_model_state_dict

    lora = _lora_state(accelerator, wrapped)
    return get_peft_model_state_dict(model, state_dict=lora) if lora else {}


def _load_adapter_weights(model: Any, wrapped: torch.nn.Module, weights: dict[str, torch.Tensor], where: Path) -> None:
    """Load saved adapter weights (PEFT file names) into the live, possibly sharded, model in place."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    # PEFT files drop the adapter name: ...q_proj.lora_A.weight is ...q_proj.lora_A.default.weight live.
    live = {n.replace(f".{model.active_adapter}.", "."): n for n, _ in model.named_parameters() if "lora_" in n}
    unknown = sorted(set(weights) - set(live))
    if unknown:
        raise ValueError(f"{where}: adapter weights do not fit this model/peft config (e.g. {unknown[0]})")
    missing = sorted(set(live) - set(weights))
    if missing:
        raise ValueError(f"{where}: adapter weights lack {len(missing)} tensors of this model (e.g. {missing[0]})")
    # Whole tensors in, each process keeps its shard (FSDP) or the whole (DDP, one process).
    state = {f"model.{live[k]}": v for k, v in weights.items()}
    set_model_state_dict(wrapped, state, options=StateDictOptions(full_state_dict=True, strict=False))


def _restart_optimizer(optimizer: Any, learning_rate: float) -> torch.optim.Optimizer:
    """Make the run's optimizer a fresh AdamW at this phase's peak learning rate; returns the torch optimizer.

    Each phase is its own warmup + cosine run at its own peak LR (the seed's design): AdamW moments
    from the previous phase's data and LR would make the new phase's first steps follow the old
    gradient statistics instead of warming up from zero. Emptying the state is exactly a new AdamW,
    while the object stays the one FSDP / DeepSpeed were prepared with.
    """
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer wraps it
    inner.state.clear()
    for group in inner.param_groups:
        # The schedule starts from initial_lr, which a previous phase's schedule has already set.
        group["lr"] = group["initial_lr"] = learning_rate
    return inner


def _phase_summary(phase: PhaseConfig, data: PhaseData, stats: dict, total_steps: int, lr: float) -> dict:
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
        "seconds": round(stats["seconds"], 3),
        "tokens_per_s": round(stats["tokens"] / stats["seconds"], 1) if stats["seconds"] else None,
    }


def train(cfg: RunConfig, data_dir: Path, out: Path, resume: bool = False, show_progress: bool = True) -> dict:
    """Train the adapter through every phase of `cfg.training`; returns train_summary.json's content."""
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
    if not resume and _has_run(out):
        raise FileExistsError(
            f"{out} already holds a training run — pass --resume to continue it, or choose another -o / delete it"
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
    # cpu=True lets accelerate pick gloo for several CPU processes (torchrun / accelerate launch --cpu);
    # accelerate routes to DeepSpeed only without it (DeepSpeed then brings its own CPU backend).
    accelerator = Accelerator(
        cpu=device.type == "cpu" and os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true",
        mixed_precision=mixed,
        log_with=t.report_to or None,
        project_dir=str(out),
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
    if t.compile:
        compile_layers(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # One optimizer for the run, prepared together with the model: FSDP2 and DeepSpeed point it at the
    # sharded parameters they create. Every phase restarts it (`_restart_optimizer`).
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=t.phases[0].learning_rate, betas=t.adam_betas, eps=t.adam_epsilon, weight_decay=t.weight_decay,
    )  # fmt: skip
    wrapped, optimizer = accelerator.prepare(PackedLoss(model), optimizer)
    # Taken after prepare: FSDP replaces parameters with sharded ones.
    params = [p for p in wrapped.parameters() if p.requires_grad]
    if t.report_to:
        accelerator.init_trackers(cfg.name, config={"lora_r": cfg.peft.r, "seed": seed, "world_size": world})

    # Where a resume restarts: the first unfinished phase, at its latest complete checkpoint.
    done: dict[str, dict] = {}
    for phase in t.phases:
        marker = ckpt.phase_done_file(out, phase.name)
        if not (resume and marker.is_file()):
            break
        done[phase.name] = json.loads(marker.read_text())
    metrics_path = out / "metrics.jsonl"
    if resume and main:
        k0 = len(done)
        ck = ckpt.list_checkpoints(out, t.phases[k0].name) if k0 < len(t.phases) else []
        _trim_metrics(metrics_path, k0, ck[-1][0] if ck else 0)
    elif main:
        metrics_path.unlink(missing_ok=True)

    summaries: list[dict] = []
    global_step = 0
    weights_from: Path | None = None  # adapter to load before the next phase that actually trains
    with counter_progress(show_progress and main) as progress:
        for k, phase in enumerate(t.phases):
            adapter_dir = out / "phases" / phase.name / "adapter"
            if phase.name in done:
                summaries.append(done[phase.name])
                global_step += done[phase.name]["steps"]
                weights_from = adapter_dir
                continue
            summary = _train_phase(
                k, phase, cfg, accelerator, model, wrapped, params, optimizer, tokenizer, pad_id, data_dir, out,
                seed, resume, weights_from, global_step, metrics_path, progress,
            )  # fmt: skip
            weights_from = None
            global_step += summary["steps"]
            summaries.append(summary)
            lora = _lora_state(accelerator, wrapped)
            if main:
                # The adapter first, phase.json last: phase.json marks the phase finished for --resume.
                model.save_pretrained(adapter_dir, state_dict=lora)
                ckpt.phase_done_file(out, phase.name).write_text(json.dumps(summary, indent=2))
                ckpt.prune_checkpoints(out, phase.name, keep=0)
            accelerator.wait_for_everyone()

    last = out / "phases" / t.phases[-1].name / "adapter"
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
        "phases": summaries,
        "total_steps": global_step,
        "seconds": round(sum(s["seconds"] for s in summaries), 3),
        "adapter": str(out / "adapter"),
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
    tokenizer: Any,
    pad_id: int,
    data_dir: Path,
    out: Path,
    seed: int,
    resume: bool,
    weights_from: Path | None,
    global_step: int,
    metrics_path: Path,
    progress: Any,
) -> dict:
    from safetensors.torch import load_file

    t = cfg.training
    main, rank, world = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    data = load_phase(data_dir, phase, t, tokenizer, seed=seed * 1_000 + k)
    per_step = t.batch_size * t.gradient_accumulation * world
    total_steps = phase_steps(
        len(data.rows), per_step, phase.epochs or t.epochs_per_phase, phase.max_steps or t.max_steps_per_phase
    )
    scheduler = make_scheduler(t.lr_scheduler, _restart_optimizer(optimizer, phase.learning_rate), t.warmup_ratio,
                               total_steps)  # fmt: skip
    order = RowOrder(len(data.rows), seed * 1_000 + k)

    stats = {"tokens": 0, "loss_tokens": 0, "loss_first": None, "loss_last": None, "seconds": 0.0}
    start = 0
    found = ckpt.list_checkpoints(out, phase.name) if resume else []
    if found:
        step_done, folder = found[-1]
        weights, opt_state, sched_state, state, rng = ckpt.read_checkpoint(folder, rank)
        _load_adapter_weights(model, wrapped, weights, folder)
        ckpt.load_optimizer(wrapped, optimizer, opt_state)
        scheduler.load_state_dict(sched_state)
        ckpt.set_rng_state(rng)
        stats = state["stats"]
        start = state["step"]
    else:
        if weights_from is not None:
            _load_adapter_weights(model, wrapped, load_file(weights_from / "adapter_model.safetensors"), weights_from)
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
            micro.append(collate([[data.examples[i] for i in row] for row in rows], pad_id))
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
                with contextlib.nullcontext() if sync else accelerator.no_sync(wrapped):
                    part, _n = wrapped(
                        batch["input_ids"].to(accelerator.device),
                        batch["position_ids"].to(accelerator.device),
                        batch["targets"].to(accelerator.device),
                        batch["cu_seqlens"].to(accelerator.device),
                        batch["max_seqlen"],
                    )
                    accelerator.backward(part * scale)
                loss_sum += part.detach()
        except torch.OutOfMemoryError:
            raise RuntimeError(f"phase {phase.name}, step {step + 1}: {OOM_HINT}") from None
        grad_norm = accelerator.clip_grad_norm_(params, t.max_grad_norm) if t.max_grad_norm else None
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss = float(accelerator.reduce(loss_sum, "sum")) / max(loss_tokens, 1)
        seconds = time.perf_counter() - began

        stats["tokens"] += real_tokens
        stats["loss_tokens"] += loss_tokens
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
    return _phase_summary(phase, data, stats, total_steps, phase.learning_rate)


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
    weights = _adapter_state(accelerator, wrapped, model)
    opt_state = ckpt.optimizer_state(wrapped, optimizer)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {"phase": name, "phase_index": k, "step": step, "stats": stats}
        ckpt.write_checkpoint(tmp, final, weights, opt_state, scheduler, state)
        ckpt.prune_checkpoints(out, name, keep=keep)
    accelerator.wait_for_everyone()
