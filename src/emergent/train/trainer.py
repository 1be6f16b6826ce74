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

from emergent.config import Phase, RunConfig
from emergent.handoff import write_phase_summary, write_train_summary
from emergent.lm.attention import flat_batches
from emergent.lm.loading import choose_precision, load_model, load_tokenizer
from emergent.lm.loss import PackedLoss
from emergent.lm.packing import IGNORE, collate, loss_inputs
from emergent.lm.registry import write_trained_on
from emergent.progress import counter_progress
from emergent.train import checkpoint as ckpt
from emergent.train import distributed, resume_guard
from emergent.train.adapter import add_adapter, compile_layers, save_adapter, saves_embeddings, use_training_fast_paths
from emergent.train.config import TrainingConfig
from emergent.train.data import (
    PhaseData,
    distinct_conversations,
    encode_phase,
    missing_phase_files,
    phase_conversations,
    phase_file,
)
from emergent.train.phase_stats import PhaseStats
from emergent.train.replay import REPLIES_FILE, ReplayStats, replay_phase
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


def _steps(phase: Phase, t: TrainingConfig, data: PhaseData, per_step: int) -> int:
    """A phase's number of optimizer steps over its packed rows."""
    epochs, max_steps = phase.epochs or t.epochs_per_phase, phase.max_steps or t.max_steps_per_phase
    return phase_steps(len(data.rows), per_step, epochs, max_steps)


@dataclass
class Mixture:
    """The no-curriculum control: the curriculum's conversations as one phase, for the curriculum's steps."""

    phase: Phase
    conversations: list[dict]  # those `data` was encoded from
    data: PhaseData
    steps: int
    curriculum: list[Phase]  # at the rates they would have trained at
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


def plan_mixture(
    t: TrainingConfig, curriculum: list[Phase], data_dir: Path, tokenizer: Any, seed: int, per_step: int
) -> Mixture:
    """Every conversation the `curriculum` phases (at their scaled rates) would train on, once, shuffled
    into one phase that takes as many steps as they would (planned phase by phase as `train` plans
    them) at one peak rate."""
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
        # Not a configured phase: unvalidated, and without categories of its own (its summary lists the data's).
        phase=Phase.model_construct(name=NO_CURRICULUM_PHASE, categories=[], learning_rate=rate),
        conversations=convs,
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
    inner = distributed.torch_optimizer(optimizer)
    inner.state.clear()
    for group in inner.param_groups:
        # The schedule starts from initial_lr, which a previous phase's schedule has already set.
        group["lr"] = group["initial_lr"] = learning_rate
    return inner


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
    recipe = CurriculumTrainer(cfg, data_dir, out, resume=resume, fresh=fresh, show_progress=show_progress)
    recipe.setup()
    return recipe.train()


@dataclass
class PhaseRun:
    """A phase in training: its rows in stream order, schedule and statistics, and the step it starts from."""

    index: int
    phase: Phase
    data: PhaseData
    steps: int
    order: RowOrder
    scheduler: Any
    stats: PhaseStats
    start: int = 0


class CurriculumTrainer:
    """The curriculum as a recipe, its state on self: `setup` loads the model, prepares the optimizer and
    finds the `resume_point`; `train` runs `train_phase` for each unfinished phase (`save_checkpoint` on the
    way) and writes the `summary`."""

    accelerator: Any
    model: Any  # the PEFT model
    loss_module: PackedLoss  # the loss around the model, before accelerate wraps it (its last_parts)
    wrapped: torch.nn.Module  # loss_module, prepared by accelerate (DDP, FSDP, DeepSpeed)
    optimizer: Any  # accelerate's wrapper; `distributed.torch_optimizer` unwraps it
    phases: list[Phase]
    mixture: Mixture | None
    validator: Validator | None

    def __init__(
        self, cfg: RunConfig, data_dir: Path, out: Path, resume: bool = False, fresh: bool = False,
        show_progress: bool = True,
    ) -> None:  # fmt: skip
        self.cfg, self.t = cfg, cfg.training
        self.data_dir, self.out = Path(data_dir), Path(out)
        self.resume, self.fresh, self.show_progress = resume, fresh, show_progress
        self.seed = cfg.seed if self.t.seed is None else self.t.seed
        self.metrics_path, self.validation_path = self.out / "metrics.jsonl", self.out / "validation.jsonl"
        self.warnings: list[str] = []  # train_summary.json's
        self.done: dict[str, dict] = {}  # phase.json of each finished phase a resume skips
        self.global_step = 0  # optimizer steps of the phases before the current one
        self.weights_from: Path | None = None  # adapter to load before the next phase that actually trains
        self._replay_generator: Any = None  # the base model's copy for training.replay, while a phase needs it

    def setup(self) -> None:
        """Everything before the first step; a missing file or a refused resume fails before any work."""
        self._check_inputs()
        self._start_accelerator()
        self._load_model()
        self._record_settings()
        self._plan_phases()
        self._prepare_optimizer()
        self.done = self.resume_point()
        self.validator = make_validator(
            self.t, self.data_dir, self.tokenizer, self.pad_id, self.accelerator, self.model, self.wrapped,
            self.validation_path, self.warnings,
        )  # fmt: skip
        self.base_validation = base_validation_loss(self.validator, self.accelerator, self.validation_path, self.resume)

    def _check_inputs(self) -> None:
        missing = missing_phase_files(self.data_dir, self.cfg.curriculum.phases)
        if missing:
            raise FileNotFoundError(
                f"missing phase files: {', '.join(str(m) for m in missing)} — run `emergent data build CONFIG -o "
                f"{self.data_dir}` first, or point --data at a built data folder whose phases/ has one file per "
                "curriculum.phases name"
            )
        if self.resume and self.fresh:
            raise ValueError("--resume continues a run and --fresh deletes it: pass one of them")
        if not self.resume and not self.fresh and _has_run(self.out):
            raise FileExistsError(
                f"{self.out} already holds a training run — pass --resume to continue it, --fresh to start it "
                "over, or choose another -o"
            )
        for tracker in self.t.report_to:
            if importlib.util.find_spec(tracker) is None:
                raise ValueError(f"training.report_to lists {tracker}, which is not installed — pip install {tracker}")

    def _warn(self, message: str) -> None:
        """Into train_summary.json's warnings and, from the main process, a warning at `train`'s caller."""
        self.warnings.append(message)
        if self.main:
            warnings.warn(message, RuntimeWarning, stacklevel=5)  # _warn, a setup step, setup, train, caller

    def _start_accelerator(self) -> None:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.precision, precision_warning = choose_precision(self.t.precision, self.device)
        mixed = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[self.precision]
        # accelerate keeps one process-wide state that refuses a second precision; each train() call sets
        # its own (the process group, in PartialState, is kept).
        AcceleratorState._reset_state()
        self.accelerator = Accelerator(
            mixed_precision=mixed, log_with=self.t.report_to or None, project_dir=str(self.out),
            **distributed.accelerator_kwargs(self.device),
        )  # fmt: skip
        acc = self.accelerator
        self.main, self.rank, self.world = acc.is_main_process, acc.process_index, acc.num_processes
        if precision_warning:
            self._warn(precision_warning)
        self.out.mkdir(parents=True, exist_ok=True)

    def _load_model(self) -> None:
        self.tokenizer = tok = load_tokenizer(self.cfg.model)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        torch.manual_seed(self.seed)  # the same LoRA initialisation in every process
        base = load_model(self.cfg.model, self.precision, self.accelerator.device)
        self.model = add_adapter(base, self.cfg.peft, self.cfg.model.name)
        plain_path = use_training_fast_paths(self.model, autocast=self.precision != "fp32")  # accelerate autocasts then
        if plain_path:
            self._warn(plain_path)
        self.model.train()  # LoRA dropout on (from_pretrained has left models in eval mode in some versions)
        if self.t.compile:
            compile_layers(self.model)
        self.trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        # Padding-free micro-batches where attention takes conversation boundaries from cu_seqlens.
        self.flat = flat_batches(self.t.packing, self.model)

    def _record_settings(self) -> None:
        """Refuse a resume whose settings changed; then the main process clears a --fresh run and records them."""
        settings = resume_guard.run_settings(self.cfg, self.data_dir, self.world, self.seed)
        resume_guard.check_resume(self.out, settings, self.resume, _has_run(self.out))
        self.accelerator.wait_for_everyone()  # every process has checked before the main one touches OUT
        if self.main:
            if self.fresh:
                remove_run(self.out)
            resume_guard.record(self.out, settings)

    def _plan_phases(self) -> None:
        t = self.t
        self.per_step = t.batch_size * t.gradient_accumulation * self.world
        curriculum = self.cfg.curriculum.scaled(t.lr_scale)
        self.mixture = None
        if not t.curriculum:
            self.mixture = plan_mixture(t, curriculum, self.data_dir, self.tokenizer, self.seed, self.per_step)
        self.phases = [self.mixture.phase] if self.mixture else curriculum

    def _prepare_optimizer(self) -> None:
        t = self.t
        # One optimizer for the run, prepared together with the model: FSDP2 and DeepSpeed point it at the
        # sharded parameters they create. Every phase restarts it (`_restart_optimizer`).
        optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=self.phases[0].learning_rate, betas=t.adam_betas, eps=t.adam_epsilon, weight_decay=t.weight_decay,
        )  # fmt: skip
        distributed.configure(self.accelerator, t.batch_size, t.gradient_accumulation, t.max_grad_norm)
        engine = self.accelerator.distributed_type.value
        if t.kl_to_base and engine in ("FSDP", "DEEPSPEED"):
            # Its checkpointed logits run the head again in backward, outside the engine's gather of the
            # sharded weights; tested with one process and DDP only.
            raise ValueError(
                f"training.kl_to_base works with one process or DDP, not {engine} — set it to 0 or train with DDP"
            )
        self.loss_module = PackedLoss(self.model, t.kl_to_base)
        self.wrapped, self.optimizer = self.accelerator.prepare(self.loss_module, optimizer)
        # Taken after prepare: FSDP replaces parameters with sharded ones.
        self.params = [p for p in self.wrapped.parameters() if p.requires_grad]
        if t.report_to:
            tracked = {"lora_r": self.cfg.peft.r, "seed": self.seed, "world_size": self.world}
            self.accelerator.init_trackers(self.cfg.name, config=tracked)

    def resume_point(self) -> dict[str, dict]:
        """The phase.json of each finished phase a resume skips. The first unfinished phase restarts at its
        latest complete checkpoint, so the logs are cut back to that point (emptied by a run that is no resume)."""
        done: dict[str, dict] = {}
        for phase in self.phases:
            marker = ckpt.phase_done_file(self.out, phase.name)
            if not (self.resume and marker.is_file()):
                break
            done[phase.name] = json.loads(marker.read_text())
        if self.resume and self.main:
            k0 = len(done)
            found = ckpt.list_checkpoints(self.out, self.phases[k0].name) if k0 < len(self.phases) else []
            _trim_metrics(self.metrics_path, k0, found[-1][0] if found else 0)
            _trim_metrics(self.validation_path, k0, found[-1][0] if found else 0)
        elif self.main:
            self.metrics_path.unlink(missing_ok=True)
            self.validation_path.unlink(missing_ok=True)
        self.accelerator.wait_for_everyone()
        return done

    def train(self) -> dict:
        """Every phase in order, the finished ones of a resume skipped; returns train_summary.json's content."""
        with counter_progress(self.show_progress and self.main) as progress:
            self.progress = progress
            phases = [self._run_phase(k, phase) for k, phase in enumerate(self.phases)]
        result = self.summary(phases)
        if self.main:
            _copy_atomic(self.out / "phases" / self.phases[-1].name / "adapter", self.out / "adapter")
            write_train_summary(self.out / "train_summary.json", result)
        self.accelerator.wait_for_everyone()
        if self.t.report_to:
            self.accelerator.end_training()
        return result

    def _run_phase(self, k: int, phase: Phase) -> dict:
        """Phase k's phase.json content: read back where a resume skips the phase, else trained and saved."""
        adapter_dir = self.out / "phases" / phase.name / "adapter"
        if phase.name in self.done:
            self.global_step += self.done[phase.name]["steps"]
            self.weights_from = adapter_dir
            return self.done[phase.name]
        if self.mixture:
            convs, data, steps = self.mixture.conversations, self.mixture.data, self.mixture.steps
        else:
            convs = phase_conversations(self.data_dir, phase, self.t, seed=self.seed * 1_000 + k)
            data = encode_phase(convs, self.t, self.tokenizer, phase_file(self.data_dir, phase.name))
            steps = _steps(phase, self.t, data, self.per_step)
        replay_stats = None
        if self.t.replay:
            data, replay_stats = self._replay(k, phase, convs, data, steps)
        summary = self.train_phase(k, phase, data, steps)
        if replay_stats:
            summary["replay"] = replay_stats.summary()
        self.weights_from = None
        self.global_step += summary["steps"]
        self._save_phase(phase.name, adapter_dir, summary)
        return summary

    def _replay(
        self, k: int, phase: Phase, convs: list[dict], data: PhaseData, steps: int
    ) -> tuple[PhaseData, ReplayStats]:
        """The phase's data with a share of its trained conversations answered by the base model (train/replay.py)."""
        r = self.t.replay
        assert r is not None
        self._replay_task = self.progress.add_task(f"{phase.name}: base replies to replay", total=None)
        order = RowOrder(len(data.rows), self.seed * 1_000 + k)
        trained, stats = replay_phase(
            convs, data, order.__getitem__, steps * self.per_step, r, self.out / REPLIES_FILE,
            self._base_replies if self.main else None, self.accelerator.wait_for_everyone, seed=self.seed * 1_000 + k,
            sample=self._sampled_base_replies if self.main else None,
        )  # fmt: skip
        self._replay_generator = None  # the second copy of the model is not kept through training
        where = phase_file(self.data_dir, phase.name) if not self.mixture else Path(self.data_dir) / "phases"
        return encode_phase(trained, self.t, self.tokenizer, where), stats

    def _base_replies(
        self, convs: list[list[dict]], tools: list[list[dict] | None], attempt: int = 0
    ) -> list[tuple[str, bool]]:
        """Replies of the base model without the adapter, greedy (attempt 0) or sampled with the attempt's seed:
        a separate copy of it, loaded on first use, so that the model being trained (fast paths, sharding,
        dropout on) is left as it is."""
        from emergent.lm.config import DecodingConfig

        r = self.t.replay
        assert r is not None
        decoding = DecodingConfig(max_new_tokens=r.max_new_tokens, do_sample=False)
        if attempt:
            decoding = DecodingConfig(
                max_new_tokens=r.max_new_tokens, do_sample=True, temperature=r.retry_temperature, top_p=0.95,
                seed=attempt,  # not the run's: a cached retry is the same for every training seed, as the greedy one is
            )  # fmt: skip
        if self._replay_generator is None:
            from emergent.lm.generation import LocalGenerator
            from emergent.lm.registry import resolve_model_path

            m = self.cfg.model
            self._replay_generator = LocalGenerator(
                resolve_model_path(m.name), None, decoding, r.batch_size, str(self.accelerator.device),
                m.trust_remote_code, self.precision, m.chat_template,
            )  # fmt: skip
        self._replay_generator.decoding = decoding
        replies = self._replay_generator.generate_ended(convs, tools, use_adapter=False)
        self.progress.advance(self._replay_task, len(replies))
        return replies

    def _sampled_base_replies(self, convs: list[list[dict]], attempt: int) -> list[tuple[str, bool]]:
        return self._base_replies(convs, [None] * len(convs), attempt)

    def _save_phase(self, name: str, adapter_dir: Path, summary: dict) -> None:
        lora = distributed.lora_state(self.accelerator, self.wrapped)
        if self.main:
            # The adapter first, phase.json last: phase.json marks the phase finished for --resume.
            save_adapter(self.model, adapter_dir, lora)
            self.tokenizer.save_pretrained(adapter_dir)  # with its chat template: others render as training did
            write_trained_on(adapter_dir, self.cfg.model.name)
            write_phase_summary(ckpt.phase_done_file(self.out, name), summary)
            ckpt.prune_checkpoints(self.out, name, keep=0)
        self.accelerator.wait_for_everyone()

    def summary(self, phases: list[dict]) -> dict:
        """train_summary.json's content, around the phases' phase.json."""
        t = self.t
        return {
            "model": self.cfg.model.name,
            "peft": self.cfg.peft.model_dump(),
            "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "precision": self.precision,
            "world_size": self.world,
            "distributed": self.accelerator.distributed_type.value,  # NO, MULTI_CPU, MULTI_GPU (DDP), FSDP, DEEPSPEED
            "packing": t.packing,
            "max_seq_len": t.max_seq_len,
            "effective_batch": self.per_step,
            "trainable_parameters": self.trainable,
            "lr_scale": t.lr_scale,
            "curriculum": t.curriculum,
            "no_curriculum": self.mixture.summary() if self.mixture else None,
            "phases": phases,
            "total_steps": self.global_step,
            "seconds": round(sum(s["seconds"] for s in phases), 3),
            "adapter": str(self.out / "adapter"),
            "validation": self._validation_summary(phases[-1]) if self.validator else None,
            "warnings": self.warnings,
        }

    def _validation_summary(self, last: dict) -> dict:
        data = self.validator.data
        return {
            "examples": len(data.examples),
            "loss_tokens": data.loss_tokens,
            "categories": dict(sorted(Counter(data.categories).items())),
            "dropped": data.dropped,
            "base": self.base_validation,
            # .get: phases finished (and resumed past) by a version without validation have no such keys.
            "final": {"loss": last.get("validation_loss"), "by_category": last.get("validation_by_category")},
            "log": "validation.jsonl",
        }

    def train_phase(self, k: int, phase: Phase, data: PhaseData, steps: int) -> dict:
        """Phase k's `steps` optimizer steps (a resume starts at its latest checkpoint); returns phase.json's content."""
        run = self._start_phase(k, phase, data, steps)
        task = self.progress.add_task(phase.name, total=steps, completed=run.start)
        every = self.t.validation.every_steps
        for step in range(run.start, steps):
            record = self._step(run, step)
            self._log(run, record, task)
            done_steps = step + 1
            if self.validator and every and done_steps % every == 0 and done_steps < steps:
                # Before the checkpoint: a resume from it continues after this record, never repeats it.
                self.validator(phase.name, k, done_steps, self.global_step + done_steps)
            if done_steps % self.t.checkpoint_every_steps == 0 and done_steps < steps:
                self.save_checkpoint(run, done_steps)
        validation = self.validator(phase.name, k, steps, self.global_step + steps) if self.validator else None
        return run.stats.summary(phase, data, steps, phase.learning_rate, validation)

    def _start_phase(self, k: int, phase: Phase, data: PhaseData, steps: int) -> PhaseRun:
        """A fresh optimizer and schedule at the phase's rate; then the phase's latest checkpoint on a resume,
        else the previous phase's adapter (where a resume skipped it) and the phase's own seeds."""
        inner = _restart_optimizer(self.optimizer, phase.learning_rate)
        scheduler = make_scheduler(self.t.lr_scheduler, inner, self.t.warmup_ratio, steps)
        run = PhaseRun(k, phase, data, steps, RowOrder(len(data.rows), self.seed * 1_000 + k), scheduler, PhaseStats())
        found = ckpt.list_checkpoints(self.out, phase.name) if self.resume else []
        if found:
            self._load_checkpoint(run, found[-1][1])
            return run
        if self.weights_from is not None:
            from safetensors.torch import load_file

            weights = load_file(self.weights_from / "adapter_model.safetensors")
            distributed.load_adapter(self.accelerator, self.model, self.wrapped, weights, self.weights_from)
        # Seeded per phase (not carried over), so a resume that starts this phase afresh draws the same dropout.
        torch.manual_seed(self.seed * 1_000 + k * 10 + self.rank)
        random.seed(self.seed * 1_000 + k)
        return run

    def _load_checkpoint(self, run: PhaseRun, folder: Path) -> None:
        weights, opt_state, sched_state, state, rng = ckpt.read_checkpoint(folder, self.rank)
        distributed.load_adapter(self.accelerator, self.model, self.wrapped, weights, folder)
        distributed.load_state(self.accelerator, self.wrapped, self.optimizer, folder, opt_state)
        run.scheduler.load_state_dict(sched_state)
        ckpt.set_rng_state(rng)
        run.stats = PhaseStats.from_checkpoint(state["stats"])
        run.start = state["step"]

    def _step(self, run: PhaseRun, step: int) -> dict:
        """One optimizer step over every process's micro-batches; returns its metrics.jsonl record."""
        acc, began = self.accelerator, time.perf_counter()
        micro = self._micro_batches(run, step)
        local = torch.tensor(
            [sum(int((b["targets"] != IGNORE).sum()) for b in micro), sum(int(b["real_tokens"]) for b in micro)],
            device=acc.device,
        )
        loss_tokens, real_tokens = (int(x) for x in acc.reduce(local, "sum"))
        # DDP averages gradients over processes, hence the factor `world`.
        loss_sum, kl_sum = self._forward_backward(run.phase, step, micro, scale=self.world / max(loss_tokens, 1))
        grad_norm = acc.clip_grad_norm_(self.params, self.t.max_grad_norm) if self.t.max_grad_norm else None
        lr = distributed.torch_optimizer(self.optimizer).param_groups[0]["lr"]
        self.optimizer.step()
        run.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        step_loss_sum = float(acc.reduce(loss_sum, "sum"))
        seconds = time.perf_counter() - began
        loss = run.stats.add_step(real_tokens, loss_tokens, step_loss_sum, seconds)
        kl = {}
        if self.t.kl_to_base:  # per loss token, as the loss; the loss itself stays the cross-entropy
            kl = {"kl_to_base": round(float(acc.reduce(kl_sum, "sum")) / max(loss_tokens, 1), 6)}
        return {
            "phase": run.phase.name,
            "phase_index": run.index,
            "step": step + 1,
            "global_step": self.global_step + step + 1,
            "loss": round(loss, 6),
            "learning_rate": lr,
            "grad_norm": float(grad_norm) if grad_norm is not None else None,
            "tokens": real_tokens,
            "loss_tokens": loss_tokens,
            "tokens_per_s": round(real_tokens / seconds, 1),
            "seconds": round(seconds, 4),
            **kl,
        }

    def _micro_batches(self, run: PhaseRun, step: int) -> list[dict]:
        """This process's micro-batches of `step`: the stream positions interleave processes per micro-batch."""
        t, data, micro = self.t, run.data, []
        for m in range(t.gradient_accumulation):
            first = step * self.per_step + (m * self.world + self.rank) * t.batch_size
            rows = [data.rows[run.order[p]] for p in range(first, first + t.batch_size)]
            micro.append(collate([[data.examples[i] for i in row] for row in rows], self.pad_id, flat=self.flat))
        return micro

    def _forward_backward(
        self, phase: Phase, step: int, micro: list[dict], scale: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients of every micro-batch's loss x `scale`, synchronised on the last; returns the summed
        cross-entropy and the summed KL to the base model (0 without training.kl_to_base)."""
        acc = self.accelerator
        loss_sum = torch.zeros((), device=acc.device)
        kl_sum = torch.zeros((), device=acc.device)
        try:
            for m, batch in enumerate(micro):
                sync = m == len(micro) - 1
                with distributed.accumulating(acc, self.wrapped, last=sync):
                    part, _n = self.wrapped(*loss_inputs(batch, acc.device))
                    distributed.backward(acc, part * scale, last=sync)
                if self.t.kl_to_base:  # every training forward with the penalty sets last_parts
                    ce, kl = self.loss_module.last_parts
                    loss_sum += ce
                    kl_sum += kl
                else:
                    loss_sum += part.detach()
        except torch.OutOfMemoryError:
            raise RuntimeError(f"phase {phase.name}, step {step + 1}: {OOM_HINT}") from None
        return loss_sum, kl_sum

    def _log(self, run: PhaseRun, record: dict, task: Any) -> None:
        """The step's record into metrics.jsonl (every log_every_steps and the phase's last) and the trackers."""
        t, done_steps = self.t, record["step"]
        if self.main and (done_steps % t.log_every_steps == 0 or done_steps == run.steps):
            with self.metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if t.report_to:
                scalars = {f"train/{key}": v for key, v in record.items() if isinstance(v, (int, float))}
                self.accelerator.log(scalars, step=record["global_step"])
        self.progress.update(
            task,
            advance=1,
            description=f"{run.phase.name} loss {run.stats.loss_last:.4f} lr {record['learning_rate']:.2e} "
            f"{record['tokens_per_s']:,.0f} tok/s",
        )

    def save_checkpoint(self, run: PhaseRun, step: int) -> None:
        """A crash-safe checkpoint of the phase after `step` steps (checkpoint.py); every process takes part."""
        acc, name = self.accelerator, run.phase.name
        final = ckpt.checkpoint_dir(self.out, name, step)
        tmp = final.with_name(".tmp-" + final.name)
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        acc.wait_for_everyone()
        ckpt.write_rng(tmp, acc.process_index)
        from peft import get_peft_model_state_dict

        lora = distributed.lora_state(acc, self.wrapped)
        weights = (
            get_peft_model_state_dict(self.model, state_dict=lora, save_embedding_layers=saves_embeddings(self.model))
            if lora
            else {}
        )
        opt_state = distributed.save_state(acc, self.wrapped, self.optimizer, tmp)
        acc.wait_for_everyone()
        if acc.is_main_process:
            state = {"phase": name, "phase_index": run.index, "step": step, "stats": run.stats.to_checkpoint()}
            ckpt.write_checkpoint(tmp, final, weights, opt_state, run.scheduler, state)
            ckpt.prune_checkpoints(self.out, name, keep=self.t.keep_checkpoints)
        acc.wait_for_everyone()
