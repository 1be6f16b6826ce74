"""Two CPU processes (torchrun, gloo): gradients synchronise, the result matches one process, and a
two-process run killed mid-phase resumes (again with two processes) to the uninterrupted result.

Gradient clipping fires in every test (CLIP is below the tiny model's gradient norms, checked), so the
clip on the synchronised gradients is exercised; the kill -9 tests train with LoRA dropout on (and bf16
where the CPU has bf16 units), so each process's RNG must be restored for the resume to be exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from emergent.config import parse_config
from emergent.lm.loading import cpu_has_native_bf16
from emergent.train.trainer import train

from .conftest import config_dict, kill_9_when, write_phases

CLIP = 0.05  # the tiny model's gradient norms are 0.26-0.43: every step is clipped
BF16 = "bf16" if cpu_has_native_bf16() else "fp32"


def _config(model_dir: Path, tmp: Path, batch_size: int, accumulation: int = 1, dropout: float = 0.0,
            precision: str = "fp32") -> dict:  # fmt: skip
    raw = config_dict(model_dir, tmp, batch_size=batch_size, gradient_accumulation=accumulation,
                      max_grad_norm=CLIP, precision=precision)  # fmt: skip
    raw["curriculum"]["phases"] = raw["curriculum"]["phases"][:2]  # two phases are enough to show it
    raw["peft"]["lora_dropout"] = dropout
    return raw


def _clipped(out: Path) -> None:
    """Clipping fired: the pre-clip norm of (nearly) every step is above the threshold."""
    norms = [json.loads(line)["grad_norm"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert norms and sum(n > CLIP for n in norms) >= 0.8 * len(norms), norms


def _adapter(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "adapter" / "adapter_model.safetensors")


def _same_validation(several: dict, one: dict) -> None:
    """The held-out loss, scored in shares by the processes (and in other batches), equals one process's."""
    assert several["validation"]["examples"] == one["validation"]["examples"] == 9
    assert several["validation"]["base"]["loss"] == pytest.approx(one["validation"]["base"]["loss"], rel=1e-5)
    for a, b in zip(several["phases"], one["phases"], strict=True):
        assert a["validation_loss"] == pytest.approx(b["validation_loss"], rel=1e-4)


def _torchrun(config: Path, data: Path, out: Path, *extra: str) -> list[str]:
    torchrun = Path(sys.executable).parent / "torchrun"
    cli = Path(sys.executable).parent / "emergent"
    return [str(torchrun), "--standalone", "--nproc_per_node", "2", str(cli), "train", str(config),
            "--data", str(data), "-o", str(out), "--quiet", *extra]  # fmt: skip


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _launch(cmd: list[str]) -> None:
    """Run a launcher to the end; fail with its stderr."""
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_match_one_process(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data")
    # 2 processes x batch 1 see the same rows per step as 1 process x batch 2.
    config = tmp_path / "two.yaml"
    config.write_text(yaml.safe_dump(_config(tiny_model_dir, tmp_path, batch_size=1)))
    _launch(_torchrun(config, data, tmp_path / "two"))

    one = train(parse_config(_config(tiny_model_dir, tmp_path, 2), tmp_path / "one.yaml"), data, tmp_path / "one",
                show_progress=False)  # fmt: skip
    train(parse_config(_config(tiny_model_dir, tmp_path, 1), tmp_path / "half.yaml"), data,
                 tmp_path / "half", show_progress=False)  # fmt: skip

    summary = yaml.safe_load((tmp_path / "two" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["effective_batch"] == 2
    _clipped(tmp_path / "two")
    assert [p["steps"] for p in summary["phases"]] == [p["steps"] for p in one["phases"]]
    assert [p["tokens"] for p in summary["phases"]] == [p["tokens"] for p in one["phases"]]
    for a, b in zip(summary["phases"], one["phases"], strict=False):
        assert abs(a["loss_last"] - b["loss_last"]) < 1e-4
    _same_validation(summary, one)
    two, single, alone = _adapter(tmp_path / "two"), _adapter(tmp_path / "one"), _adapter(tmp_path / "half")
    for key, value in single.items():
        torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-6)
    # Control: one process on half the rows per step ends elsewhere, so the match above needed both halves.
    assert max((alone[k] - single[k]).abs().max().item() for k in single) > 1e-4


def test_two_processes_killed_mid_phase_resume_to_the_same_adapter(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data")
    config = tmp_path / "two.yaml"
    raw = _config(tiny_model_dir, tmp_path, batch_size=1, dropout=0.05, precision=BF16)
    config.write_text(yaml.safe_dump(raw))
    _launch(_torchrun(config, data, tmp_path / "whole"))
    _clipped(tmp_path / "whole")
    # Control: dropout is really on — without it the same run ends elsewhere.
    no_dropout = tmp_path / "no-dropout.yaml"
    no_dropout.write_text(yaml.safe_dump(raw | {"peft": raw["peft"] | {"lora_dropout": 0.0}}))
    _launch(_torchrun(no_dropout, data, tmp_path / "plain"))
    plain, dropped = _adapter(tmp_path / "plain"), _adapter(tmp_path / "whole")
    assert max((plain[k] - dropped[k]).abs().max().item() for k in plain) > 1e-6

    out = tmp_path / "killed"
    target = out / "checkpoints" / "phase2_analytical-step0000002" / "state.json"
    # kill -9 of torchrun and both workers at once, like a lost node.
    kill_9_when(_torchrun(config, data, out), target, ENV, timeout=240)
    assert (out / "phases" / "phase1_foundation" / "phase.json").exists()
    assert not (out / "phases" / "phase2_analytical" / "phase.json").exists()

    _launch(_torchrun(config, data, out, "--resume"))
    whole, resumed = _adapter(tmp_path / "whole"), _adapter(out)
    for key, value in whole.items():
        assert torch.equal(resumed[key], value), key
    a = yaml.safe_load((tmp_path / "whole" / "train_summary.json").read_text())
    b = yaml.safe_load((out / "train_summary.json").read_text())
    assert a["precision"] == b["precision"] == BF16
    assert [p["steps"] for p in a["phases"]] == [p["steps"] for p in b["phases"]]
    assert [p["loss_last"] for p in a["phases"]] == [p["loss_last"] for p in b["phases"]]


# Sharding engines through `accelerate launch` with the shipped configs, on 2 CPU processes: FSDP through
# fsdp_on_cpu.py (accelerate turns FSDP off on CPU), DeepSpeed directly (its CPU backend is gloo).
ENGINES = {
    "fsdp": ("fsdp.yaml", Path(__file__).with_name("fsdp_on_cpu.py"), "FSDP"),
    "deepspeed_zero2": ("deepspeed_zero2.yaml", Path(sys.executable).parent / "emergent", "DEEPSPEED"),
    "deepspeed_zero3": ("deepspeed_zero3.yaml", Path(sys.executable).parent / "emergent", "DEEPSPEED"),
}


def _accelerate(engine: str, config: Path, data: Path, out: Path, *extra: str) -> list[str]:
    shipped, entry, _ = ENGINES[engine]
    accelerate = Path(sys.executable).parent / "accelerate"
    shipped = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / shipped
    return [str(accelerate), "launch", "--config_file", str(shipped), "--num_processes", "2", "--main_process_port",
            "0", str(entry), "train", str(config), "--data", str(data), "-o", str(out), "--quiet", *extra]  # fmt: skip


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_sharded_engine_matches_one_process_and_resumes_after_kill_9(engine, tiny_model_dir, tmp_path):
    if engine.startswith("deepspeed"):
        pytest.importorskip("deepspeed")
    data = write_phases(tmp_path / "data")
    config = tmp_path / "sharded.yaml"
    # 2 micro-batches per step: gradients accumulate (no_sync / DeepSpeed's boundary) before each update.
    raw = _config(tiny_model_dir, tmp_path, batch_size=1, accumulation=2)
    raw["training"]["checkpoint_every_steps"] = 1
    config.write_text(yaml.safe_dump(raw))
    _launch(_accelerate(engine, config, data, tmp_path / "whole"))
    summary = yaml.safe_load((tmp_path / "whole" / "train_summary.json").read_text())
    assert summary["distributed"] == ENGINES[engine][2] and summary["world_size"] == 2
    _clipped(tmp_path / "whole")

    single = _config(tiny_model_dir, tmp_path, batch_size=2, accumulation=2)  # the same 4 rows per step
    one = train(parse_config(single, tmp_path / "one.yaml"), data, tmp_path / "one", show_progress=False)
    assert one["distributed"] == "NO"
    assert [p["steps"] for p in summary["phases"]] == [p["steps"] for p in one["phases"]]
    _same_validation(summary, one)
    whole, single = _adapter(tmp_path / "whole"), _adapter(tmp_path / "one")
    assert whole.keys() == single.keys()
    for key, value in single.items():
        torch.testing.assert_close(whole[key], value, rtol=1e-4, atol=1e-6)

    out = tmp_path / "killed"
    ckpt = out / "checkpoints" / "phase2_analytical-step0000001"
    kill_9_when(_accelerate(engine, config, data, out), ckpt / "state.json", ENV, timeout=240)
    if engine == "fsdp":
        # Whole optimizer moments gathered from both shards, keyed by parameter name.
        moments = torch.load(ckpt / "optimizer.pt", weights_only=False)["state"]
        lora = load_file(ckpt / "adapter.safetensors")
        assert len(moments) == len(lora)
        for name, state in moments.items():
            assert state["exp_avg"].shape == lora[name.removeprefix("model.").replace(".default.", ".")].shape, name
    else:
        # DeepSpeed's own partitioned optimizer state, one file per process.
        assert len(list((ckpt / "deepspeed" / "state").glob("*optim_states.pt"))) == 2

    _launch(_accelerate(engine, config, data, out, "--resume"))
    resumed = _adapter(out)
    for key, value in whole.items():
        assert torch.equal(resumed[key], value), key


def test_deepspeed_resumes_at_a_phase_boundary_from_the_saved_adapter(tiny_model_dir, tmp_path):
    """Killed right after phase 1, with no checkpoint inside phase 2: the resumed run starts phase 2 from
    phase 1's adapter file, which must reach DeepSpeed's fp32 master weights, not only the model."""
    pytest.importorskip("deepspeed")
    data = write_phases(tmp_path / "data")
    raw = _config(tiny_model_dir, tmp_path, batch_size=1, dropout=0.05)
    raw["training"]["checkpoint_every_steps"] = 1000
    config = tmp_path / "boundary.yaml"
    config.write_text(yaml.safe_dump(raw))
    _launch(_accelerate("deepspeed_zero3", config, data, tmp_path / "whole"))

    out = tmp_path / "killed"
    kill_9_when(_accelerate("deepspeed_zero3", config, data, out), out / "phases" / "phase1_foundation" / "phase.json",
                ENV, timeout=240)  # fmt: skip
    assert not (out / "phases" / "phase2_analytical" / "phase.json").exists()
    assert not list((out / "checkpoints").glob("phase2_analytical-*"))
    _launch(_accelerate("deepspeed_zero3", config, data, out, "--resume"))
    whole, resumed = _adapter(tmp_path / "whole"), _adapter(out)
    for key, value in whole.items():
        assert torch.equal(resumed[key], value), key


def test_two_processes_with_kl_to_base_match_one_process(tiny_model_dir, tmp_path):
    """training.kl_to_base under DDP: each process runs the base pass on its own rows, the KL is summed like
    the loss, so two processes train the same adapter and log the same KL as one."""
    data = write_phases(tmp_path / "data")
    config = tmp_path / "two.yaml"
    raw = _config(tiny_model_dir, tmp_path, batch_size=1)
    raw["training"]["kl_to_base"] = 2.0
    config.write_text(yaml.safe_dump(raw))
    _launch(_torchrun(config, data, tmp_path / "two"))
    single = _config(tiny_model_dir, tmp_path, batch_size=2)
    single["training"]["kl_to_base"] = 2.0
    train(parse_config(single, tmp_path / "one.yaml"), data, tmp_path / "one", show_progress=False)
    two, one = _adapter(tmp_path / "two"), _adapter(tmp_path / "one")
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-6)
    logs = [
        [json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()] for d in ("two", "one")
    ]
    assert logs[1][-1]["kl_to_base"] > 0
    for a, b in zip(*logs, strict=True):
        assert a["kl_to_base"] == pytest.approx(b["kl_to_base"], rel=1e-3, abs=1e-7)


def test_kl_to_base_is_refused_under_fsdp_before_any_step(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data")
    config = tmp_path / "sharded.yaml"
    raw = _config(tiny_model_dir, tmp_path, batch_size=1)
    raw["training"]["kl_to_base"] = 1.0
    config.write_text(yaml.safe_dump(raw))
    done = subprocess.run(_accelerate("fsdp", config, data, tmp_path / "out"), env=ENV, capture_output=True,
                          text=True, timeout=240)  # fmt: skip
    assert done.returncode != 0
    assert "training.kl_to_base works with one process or DDP, not FSDP" in done.stderr + done.stdout
    assert not (tmp_path / "out" / "metrics.jsonl").exists()
