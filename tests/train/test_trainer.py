"""The curriculum trainer on a tiny Llama: schedules, one adapter carried through, resume, errors."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path

import pytest
import torch
import yaml
from peft import get_peft_model_state_dict
from safetensors.torch import load_file

from emergent.config import parse_config
from emergent.lm.loading import cpu_has_native_bf16
from emergent.train import trainer
from emergent.train.trainer import train

from .conftest import PHASES, config_dict, kill_9_when, make_config, write_phases


def _lora(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def _base(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


def with_dropout(model_dir: Path, tmp: Path) -> dict:
    """The tiny config with the seed's LoRA dropout, so resuming must restore the dropout RNG exactly."""
    raw = config_dict(model_dir, tmp)
    raw["peft"]["lora_dropout"] = 0.05
    # Mid-phase validation on the checkpoint steps: a resume must neither lose nor repeat those records.
    raw["training"]["validation"] = {"every_steps": 2}
    return raw


@pytest.fixture(scope="module")
def tiny_run(tiny_model_dir, tmp_path_factory):
    """One uninterrupted run through all five phases, with the adapter captured at each phase's edges."""
    tmp = tmp_path_factory.mktemp("run")
    data = write_phases(tmp / "data")
    cfg = parse_config(with_dropout(tiny_model_dir, tmp), tmp / "config.yaml")
    edges: list[dict] = []
    original = trainer.CurriculumTrainer.train_phase

    def spy(recipe, *args, **kwargs):
        model = recipe.model
        start, base_start = _lora(model), _base(model)
        result = original(recipe, *args, **kwargs)
        edges.append({"start": start, "end": _lora(model), "base_start": base_start, "base_end": _base(model)})
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer.CurriculumTrainer, "train_phase", spy)
        summary = train(cfg, data, tmp / "out", show_progress=False)
    return {"summary": summary, "out": tmp / "out", "data": data, "edges": edges, "tmp": tmp}


def test_summary_files_and_metrics(tiny_run):
    out, summary = tiny_run["out"], tiny_run["summary"]
    assert [p["name"] for p in summary["phases"]] == list(PHASES)
    assert json.loads((out / "train_summary.json").read_text()) == summary
    for p in summary["phases"]:
        assert p["steps"] >= 3 and p["tokens"] > 0 and p["tokens_per_s"] > 0 and p["examples"] == 12
        assert set(p) >= {
            "name",
            "categories",
            "learning_rate",
            "steps",
            "examples",
            "tokens",
            "loss_first",
            "loss_last",
            "loss_mean",
            "seconds",
            "tokens_per_s",
        }
        assert (out / "phases" / p["name"] / "adapter" / "adapter_model.safetensors").is_file()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for p in summary["phases"]:  # the phase mean weighs every loss-bearing token alike
        steps = [m for m in metrics if m["phase"] == p["name"]]
        expected = sum(m["loss"] * m["loss_tokens"] for m in steps) / sum(m["loss_tokens"] for m in steps)
        assert p["loss_mean"] == pytest.approx(expected, rel=1e-5)
    assert len(metrics) == sum(p["steps"] for p in summary["phases"])
    assert [m["global_step"] for m in metrics] == list(range(1, len(metrics) + 1))
    assert not list((out / "checkpoints").glob("*"))  # a finished phase leaves no checkpoints behind
    assert summary["precision"] == "fp32" and summary["device"] == "cpu"


def _plain_validation_loss(model_dir: Path, data: Path) -> float:
    """The held-out loss the plain way (tests/reference_losses.py), per token over the whole set."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reference_losses import encode_file, plain_losses

    examples, _ = encode_file(data / "validation.parquet", AutoTokenizer.from_pretrained(model_dir))
    sums, counts = plain_losses(AutoModelForCausalLM.from_pretrained(model_dir).eval(), examples)
    return float(sums.sum() / counts.sum())


def test_validation_loss_before_training_after_every_phase_and_every_n_steps(tiny_run, tiny_model_dir):
    out, summary = tiny_run["out"], tiny_run["summary"]
    log = [json.loads(line) for line in (out / "validation.jsonl").read_text().splitlines()]
    assert log[0]["phase"] == "base" and log[0]["global_step"] == 0
    expected, offset = [0], 0
    for p in summary["phases"]:
        expected += [offset + s for s in range(2, p["steps"], 2)] + [offset + p["steps"]]
        offset += p["steps"]
    assert [r["global_step"] for r in log] == expected
    for p in summary["phases"]:
        end = next(r for r in log if r["phase"] == p["name"] and r["step"] == p["steps"])
        assert p["validation_loss"] == end["loss"] and p["validation_by_category"] == end["by_category"]
    v = summary["validation"]
    assert v["examples"] == 9 and set(v["categories"]) == {"tool_use", "empathetic", "technical"}
    assert v["base"]["loss"] == log[0]["loss"] and v["final"]["loss"] == log[-1]["loss"]
    assert set(v["base"]["by_category"]) == set(v["categories"])
    # Before the first step the adapter adds zero: the base model's own held-out loss.
    assert v["base"]["loss"] == pytest.approx(_plain_validation_loss(tiny_model_dir, tiny_run["data"]), rel=1e-5)
    # Held-out conversations share the phase files' templates: what the adapter learned carries over.
    assert v["final"]["loss"] < v["base"]["loss"] - 0.05


def test_without_a_validation_file_training_warns_and_goes_on(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data", per_phase=4, validation=0)
    with pytest.warns(RuntimeWarning, match="no validation loss"):
        summary = train(make_config(tiny_model_dir, tmp_path), data, tmp_path / "out", show_progress=False)
    assert summary["validation"] is None and any("no validation loss" in w for w in summary["warnings"])
    assert all(p["validation_loss"] is None for p in summary["phases"])
    assert not (tmp_path / "out" / "validation.jsonl").exists()


def test_learning_rate_follows_warmup_then_cosine_with_each_phase_peak(tiny_run):
    metrics = [json.loads(line) for line in (tiny_run["out"] / "metrics.jsonl").read_text().splitlines()]
    for p in tiny_run["summary"]["phases"]:
        total = p["steps"]
        warmup = math.ceil(0.3 * total)
        seen = [m["learning_rate"] for m in metrics if m["phase"] == p["name"]]
        expected = []
        for s in range(total):
            if s < warmup:
                expected.append(p["learning_rate"] * s / warmup)
            else:
                progress = (s - warmup) / (total - warmup)
                expected.append(p["learning_rate"] * 0.5 * (1 + math.cos(math.pi * progress)))
        assert seen == pytest.approx(expected, rel=1e-6, abs=1e-12)
        assert max(seen) == pytest.approx(p["learning_rate"])


def test_one_adapter_is_carried_through_every_phase(tiny_run):
    edges, out = tiny_run["edges"], tiny_run["out"]
    assert len(edges) == len(PHASES)
    for k, name in enumerate(PHASES):
        saved = load_file(out / "phases" / name / "adapter" / "adapter_model.safetensors")
        assert saved.keys() == edges[k]["end"].keys()
        for key, value in edges[k]["end"].items():
            assert torch.equal(saved[key], value)
            if k + 1 < len(edges):
                assert torch.equal(edges[k + 1]["start"][key], value)  # phase k+1 starts where k ended
        changed = [key for key in saved if not torch.equal(edges[k]["start"][key], edges[k]["end"][key])]
        assert len(changed) == len(saved)  # every adapter matrix learned something in every phase
        for key, value in edges[0]["base_start"].items():
            assert torch.equal(edges[k]["base_end"][key], value)  # the base model never changes


def test_final_adapter_loads_with_peft(tiny_run, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tiny_run["out"]
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["task_type"] == "CAUSAL_LM"
    assert len(config["target_modules"]) == 7
    # What vLLM's LoRA loader refuses: adapter bias, DoRA, modules_to_save (and r above --max-lora-rank).
    assert config["bias"] == "none" and not config.get("use_dora") and not config.get("modules_to_save")
    names = load_file(out / "adapter" / "adapter_model.safetensors")
    assert all(
        re.fullmatch(r"base_model\.model\.model\.layers\.\d+\.\w+\.\w+_proj\.lora_[AB]\.weight", n) for n in names
    )
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out / "adapter")
    last = tiny_run["edges"][-1]["end"]
    for key, value in get_peft_model_state_dict(model).items():
        assert torch.equal(value, last[key])


def test_resume_after_kill_9_matches_the_uninterrupted_run(tiny_run, tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(with_dropout(tiny_model_dir, tmp_path)))
    out = tmp_path / "out"
    target = out / "checkpoints" / "phase3_empathic_creative-step0000002" / "state.json"
    cli = Path(sys.executable).parent / "emergent"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the in-process runs (tests/train/conftest.py)
    kill_9_when([str(cli), "train", str(config), "--data", str(data), "-o", str(out), "--quiet"], target, env)
    assert not (out / "phases" / "phase3_empathic_creative" / "phase.json").exists()
    finished = {n: (out / "phases" / n / "phase.json").stat().st_mtime_ns for n in list(PHASES)[:2]}

    summary = train(parse_config(with_dropout(tiny_model_dir, tmp_path), config), data, out, resume=True,
                    show_progress=False)  # fmt: skip

    assert {n: (out / "phases" / n / "phase.json").stat().st_mtime_ns for n in finished} == finished
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["global_step"] for m in metrics] == list(range(1, summary["total_steps"] + 1))
    resumed = load_file(out / "adapter" / "adapter_model.safetensors")
    reference = load_file(tiny_run["out"] / "adapter" / "adapter_model.safetensors")
    for key, value in reference.items():
        assert torch.equal(resumed[key], value), key
    assert [p["loss_last"] for p in summary["phases"]] == [p["loss_last"] for p in tiny_run["summary"]["phases"]]
    assert [p["loss_mean"] for p in summary["phases"]] == [p["loss_mean"] for p in tiny_run["summary"]["phases"]]
    # The validation log: what was written before the kill is kept, nothing is repeated or lost.
    log = [json.loads(line) for line in (out / "validation.jsonl").read_text().splitlines()]
    reference_log = [json.loads(line) for line in (tiny_run["out"] / "validation.jsonl").read_text().splitlines()]
    assert [(r["global_step"], r["loss"]) for r in log] == [(r["global_step"], r["loss"]) for r in reference_log]
    assert summary["validation"]["base"] == tiny_run["summary"]["validation"]["base"]


def test_resume_with_nothing_to_resume_is_a_fresh_run(tiny_run, tiny_model_dir, tmp_path):
    # What a requeued cluster job relies on (examples/launch/slurm.sbatch always passes --resume).
    data = write_phases(tmp_path / "data")
    cfg = parse_config(with_dropout(tiny_model_dir, tmp_path), tmp_path / "c.yaml")
    train(cfg, data, tmp_path / "out", resume=True, show_progress=False)
    fresh = load_file(tmp_path / "out" / "adapter" / "adapter_model.safetensors")
    reference = load_file(tiny_run["out"] / "adapter" / "adapter_model.safetensors")
    assert fresh.keys() == reference.keys() and all(torch.equal(fresh[k], reference[k]) for k in reference)


def test_missing_phase_files_are_named(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data")
    (data / "phases" / "phase2_analytical.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"phase2_analytical\.parquet.*emergent data build"):
        train(make_config(tiny_model_dir, tmp_path), data, tmp_path / "out", show_progress=False)


def test_cli_errors_print_paths_verbatim(tiny_model_dir, tmp_path):
    """Error text is not rich markup: a path like `d[/]x` (or gloo's `[/path/pair.cc:553]`) prints as is."""
    from typer.testing import CliRunner

    from emergent.cli import app

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(config_dict(tiny_model_dir, tmp_path)))
    data = tmp_path / "d[" / "]x"
    result = CliRunner().invoke(app, ["train", str(config), "--data", str(data), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "missing phase files" in result.output and "d[/]x" in result.output.replace("\n", "")


def test_unknown_target_modules_list_the_models_modules(tiny_model_dir, tmp_path, phase_dir):
    raw = config_dict(tiny_model_dir, tmp_path)
    raw["peft"]["target_modules"] = ["q_proj", "c_attn"]
    from emergent.config import parse_config

    cfg = parse_config(raw, tmp_path / "c.yaml")
    with pytest.raises(ValueError, match=r"\['c_attn'\].*'down_proj'.*'q_proj'"):
        train(cfg, phase_dir, tmp_path / "out", show_progress=False)


def test_existing_run_needs_resume(tiny_run, tiny_model_dir):
    cfg = make_config(tiny_model_dir, tiny_run["tmp"])
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, tiny_run["data"], tiny_run["out"], show_progress=False)


def test_bf16_follows_the_cpu_bf16_units(monkeypatch):
    from emergent.lm import loading

    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: False)
    precision, warning = loading.choose_precision("bf16", torch.device("cpu"))
    assert precision == "fp32" and "bf16 is not supported on this CPU" in warning
    assert loading.choose_precision("auto", torch.device("cpu")) == ("fp32", None)
    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: True)
    assert loading.choose_precision("auto", torch.device("cpu")) == ("bf16", None)
    assert loading.choose_precision("bf16", torch.device("cpu")) == ("bf16", None)
    assert loading.choose_precision("fp16", torch.device("cpu"))[0] == "fp32"


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 or AMX)")
def test_bf16_on_a_cpu_with_bf16_units_trains_an_fp32_adapter(tiny_model_dir, tmp_path, phase_dir):
    cfg = make_config(tiny_model_dir, tmp_path, precision="auto", max_steps_per_phase=2)
    summary = train(cfg, phase_dir, tmp_path / "out", show_progress=False)
    assert summary["precision"] == "bf16" and not summary["warnings"]
    first, last = summary["phases"][0], summary["phases"][-1]
    assert math.isfinite(first["loss_first"]) and math.isfinite(last["loss_last"])
    weights = load_file(tmp_path / "out" / "adapter" / "adapter_model.safetensors")
    # The frozen base computes in bf16; the LoRA weights the optimizer updates stay fp32.
    assert {w.dtype for w in weights.values()} == {torch.float32}


def test_out_of_memory_names_the_knobs(tiny_model_dir, tmp_path, phase_dir, monkeypatch):
    from emergent.lm.loss import PackedLoss

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(PackedLoss, "forward", oom)
    cfg = make_config(tiny_model_dir, tmp_path, max_steps_per_phase=1, validation={"enabled": False})
    with pytest.raises(
        RuntimeError, match=r"phase1_foundation, step 1: out of memory.*training\.batch_size.*max_seq_len"
    ):
        train(cfg, phase_dir, tmp_path / "out", show_progress=False)
    # The validation pass (here the one before the first step) names its own knob.
    cfg = make_config(tiny_model_dir, tmp_path, max_steps_per_phase=1)
    with pytest.raises(RuntimeError, match=r"validation \(base, step 0\): out of memory.*validation\.batch_size"):
        train(cfg, phase_dir, tmp_path / "out2", show_progress=False)


def test_a_checkpoint_in_the_old_optimizer_format_names_the_fix(tmp_path):
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from emergent.train import distributed

    plain = SimpleNamespace(distributed_type=DistributedType.NO)
    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(layer.parameters())
    old = {"state": {0: {"step": torch.tensor(1.0)}}, "param_groups": [{"params": [0, 1]}]}
    with pytest.raises(ValueError, match="keyed by position.*delete this checkpoint folder"):
        distributed.load_state(plain, layer, optimizer, tmp_path, old)
    with pytest.raises(ValueError, match="written by a DeepSpeed run"):
        distributed.load_state(plain, layer, optimizer, tmp_path, None)


def test_report_to_tensorboard_logs_every_step(tiny_model_dir, tmp_path, phase_dir):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = make_config(tiny_model_dir, tmp_path, report_to=["tensorboard"], max_steps_per_phase=2)
    summary = train(cfg, phase_dir, tmp_path / "out", show_progress=False)
    events = list((tmp_path / "out").rglob("events.out.tfevents.*"))
    assert events, "no tensorboard event file under the run folder"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(1, summary["total_steps"] + 1))
    assert {"train/learning_rate", "train/tokens_per_s"} <= set(acc.Tags()["scalars"])


def test_report_to_a_tracker_that_is_not_installed_names_the_install(tiny_model_dir, tmp_path, phase_dir, monkeypatch):
    real = trainer.importlib.util.find_spec
    monkeypatch.setattr(trainer.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name))
    cfg = make_config(tiny_model_dir, tmp_path, report_to=["wandb"])
    with pytest.raises(ValueError, match="report_to lists wandb, which is not installed — pip install wandb"):
        train(cfg, phase_dir, tmp_path / "out", show_progress=False)
