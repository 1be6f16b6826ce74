"""The training controls: `lr_scale` (every phase's rate times X) and `curriculum: false` (the same
conversations as one shuffled phase, for the curriculum's steps, on one schedule)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from emergent.data.store import write_conversations
from emergent.errors import ConfigError
from emergent.train import resume_guard, trainer
from emergent.train.trainer import NO_CURRICULUM_PHASE, train

from .conftest import PHASES, conversations, make_config, write_phases

# Several epochs, so that every phase has at least 2 steps and the caps below bind.
QUICK = {"epochs_per_phase": 4, "max_steps_per_phase": 3, "validation": {"enabled": False}}
# Uneven phases, so that the step-weighted mean differs from the plain one; phase4 is left to its data.
PHASE_STEPS = [3, 1, 2, None, 1]
RATES = [2e-3, 1.5e-3, 1e-3, 5e-4, 3e-4]


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _expected_trace(peak: float, total: int, warmup_ratio: float = 0.3) -> list[float]:
    """What the trainer logs per step: linear warmup to `peak`, then cosine to zero."""
    warmup = math.ceil(warmup_ratio * total)
    return [
        peak * s / warmup if s < warmup else peak * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup)))
        for s in range(total)
    ]


def write_overlapping_phases(data_dir: Path) -> int:
    """Phase files as the curate stage writes them: the `all` phases repeat records of the earlier
    ones (same `_id`); returns how many distinct conversations they hold."""
    parts = {
        "phase1_foundation": conversations(4, offset=0),
        "phase2_analytical": conversations(4, offset=100),
        "phase3_empathic_creative": conversations(4, offset=200),
        "phase4_mixed": conversations(2, offset=0) + conversations(2, offset=100) + conversations(2, offset=300),
        "phase5_fine_tuning": conversations(2, offset=200) + conversations(1, offset=300),
    }
    for name, convs in parts.items():
        write_conversations(convs, data_dir / "phases" / f"{name}.parquet")
    write_conversations(conversations(6, offset=900), data_dir / "validation.parquet")
    return len({c["_id"] for convs in parts.values() for c in convs})


def _uneven(model_dir: Path, tmp: Path, **training) -> object:
    phases = [
        {"name": name, "categories": PHASES[name], "learning_rate": lr, "max_steps": steps}
        for name, lr, steps in zip(PHASES, RATES, PHASE_STEPS, strict=True)
    ]
    return make_config(model_dir, tmp, phases=phases, **{"epochs_per_phase": 4, **training})


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("controls")
    distinct = write_overlapping_phases(tmp / "data")
    return {"tmp": tmp, "data": tmp / "data", "distinct": distinct}


@pytest.fixture(scope="module")
def curriculum_run(overlapping, tiny_model_dir) -> dict:
    cfg = _uneven(tiny_model_dir, overlapping["tmp"], validation={"enabled": False})
    return train(cfg, overlapping["data"], overlapping["tmp"] / "curriculum", show_progress=False)


@pytest.fixture(scope="module")
def mixed_run(overlapping, tiny_model_dir) -> dict:
    """A `curriculum: false` run, with every batch of conversations it trained on captured."""
    out = overlapping["tmp"] / "mixed"
    cfg = _uneven(tiny_model_dir, overlapping["tmp"], curriculum=False)
    batches: list[list[tuple[int, ...]]] = []
    original = trainer.collate

    def spy(rows, *args, **kwargs):
        batches.append([tuple(ex.input_ids) for row in rows for ex in row])
        return original(rows, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "collate", spy)
        summary = train(cfg, overlapping["data"], out, show_progress=False)
    return {"summary": summary, "out": out, "batches": batches, "cfg": cfg}


def test_lr_scale_multiplies_every_phase_rate_and_the_logged_schedule(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data", per_phase=4, validation=0)
    cfg = make_config(tiny_model_dir, tmp_path, lr_scale=2.5, **QUICK)
    summary = train(cfg, data, tmp_path / "out", show_progress=False)

    assert summary["lr_scale"] == 2.5 and summary["curriculum"] is True and summary["no_curriculum"] is None
    assert [p["learning_rate"] for p in summary["phases"]] == pytest.approx([r * 2.5 for r in RATES])
    metrics = _metrics(tmp_path / "out")
    for p in summary["phases"]:
        seen = [m["learning_rate"] for m in metrics if m["phase"] == p["name"]]
        assert seen == pytest.approx(_expected_trace(p["learning_rate"], p["steps"]), rel=1e-6, abs=1e-12)
        assert p["steps"] >= 2 and max(seen) == pytest.approx(p["learning_rate"])
    recorded = json.loads((tmp_path / "out" / resume_guard.RUN_SETTINGS).read_text())
    assert recorded["lr_scale"] == 2.5 and recorded["curriculum"] is True
    assert [p["learning_rate"] for p in recorded["phases"]] == RATES  # the config's rates, beside the scale


def test_no_curriculum_takes_the_curriculums_total_steps_in_one_phase(curriculum_run, mixed_run):
    summary = mixed_run["summary"]
    curriculum_steps = [p["steps"] for p in curriculum_run["phases"]]
    assert curriculum_steps[:3] == [3, 1, 2] and curriculum_steps[4] == 1  # the caps; phase4 from its data
    assert summary["curriculum"] is False
    assert [p["name"] for p in summary["phases"]] == [NO_CURRICULUM_PHASE]
    assert summary["total_steps"] == summary["phases"][0]["steps"] == curriculum_run["total_steps"]
    plan = summary["no_curriculum"]
    assert plan["steps"] == curriculum_run["total_steps"]
    assert [(p["name"], p["steps"]) for p in plan["curriculum"]] == [
        (p["name"], p["steps"]) for p in curriculum_run["phases"]
    ]
    metrics = _metrics(mixed_run["out"])
    assert {m["phase"] for m in metrics} == {NO_CURRICULUM_PHASE}
    assert [m["global_step"] for m in metrics] == list(range(1, summary["total_steps"] + 1))


def test_no_curriculum_trains_at_the_step_weighted_mean_rate(curriculum_run, mixed_run):
    phases = curriculum_run["phases"]
    mean = sum(p["learning_rate"] * p["steps"] for p in phases) / sum(p["steps"] for p in phases)
    assert mean != pytest.approx(sum(RATES) / len(RATES))  # uneven phases: the weighting matters here
    summary = mixed_run["summary"]
    assert summary["phases"][0]["learning_rate"] == pytest.approx(mean)
    assert summary["no_curriculum"]["learning_rate"] == pytest.approx(mean)
    assert summary["no_curriculum"]["learning_rate_from"] == "step-weighted mean of the phase rates"
    seen = [m["learning_rate"] for m in _metrics(mixed_run["out"])]
    assert seen == pytest.approx(_expected_trace(mean, summary["total_steps"]), rel=1e-6, abs=1e-12)


def test_no_curriculum_sees_every_distinct_conversation_once_per_epoch(overlapping, mixed_run):
    summary = mixed_run["summary"]
    phase = summary["phases"][0]
    assert phase["examples"] == summary["no_curriculum"]["conversations"] == overlapping["distinct"]
    rows = phase["rows"]
    # batch_size 1: one row per micro-batch, in stream order (one process).
    seen = mixed_run["batches"]
    assert len(seen) == summary["total_steps"] * 2 and len(seen) > rows  # more than one epoch
    for start in range(0, len(seen) - rows + 1, rows):
        epoch = [ids for batch in seen[start : start + rows] for ids in batch]
        assert len(epoch) == len(set(epoch)) == overlapping["distinct"]


def test_no_curriculum_keeps_the_validation_loss(mixed_run):
    v = mixed_run["summary"]["validation"]
    assert v["base"]["loss"] is not None and v["final"]["loss"] is not None
    assert v["final"]["loss"] != v["base"]["loss"]
    log = [json.loads(line) for line in (mixed_run["out"] / "validation.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in log] == ["base", NO_CURRICULUM_PHASE]


def test_no_curriculum_resumes_from_its_checkpoint(overlapping, mixed_run, tiny_model_dir, monkeypatch):
    """A crash after the first checkpoint, then --resume: the plan is rebuilt the same, the adapter matches."""
    out = overlapping["tmp"] / "mixed-resumed"
    original = trainer.CurriculumTrainer.save_checkpoint

    def crash_after_saving(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.CurriculumTrainer, "save_checkpoint", crash_after_saving)
    with pytest.raises(KeyboardInterrupt):
        train(mixed_run["cfg"], overlapping["data"], out, show_progress=False)
    monkeypatch.undo()
    assert list((out / "checkpoints").glob(f"{NO_CURRICULUM_PHASE}-step*"))
    summary = train(mixed_run["cfg"], overlapping["data"], out, resume=True, show_progress=False)
    assert summary["total_steps"] == mixed_run["summary"]["total_steps"]
    resumed = load_file(out / "adapter" / "adapter_model.safetensors")
    reference = load_file(mixed_run["out"] / "adapter" / "adapter_model.safetensors")
    assert resumed.keys() == reference.keys() and all(torch.equal(resumed[k], reference[k]) for k in reference)


def test_an_explicit_no_curriculum_rate_is_used_as_given(overlapping, tiny_model_dir, tmp_path):
    cfg = _uneven(tiny_model_dir, overlapping["tmp"], curriculum=False, no_curriculum_learning_rate=7e-4,
                  lr_scale=3.0, validation={"enabled": False})  # fmt: skip
    summary = train(cfg, overlapping["data"], tmp_path / "out", show_progress=False)
    assert summary["phases"][0]["learning_rate"] == 7e-4
    assert summary["no_curriculum"]["learning_rate_from"] == "training.no_curriculum_learning_rate"
    # The plan lists the curriculum at the rates it would have trained at: lr_scale applies there.
    assert [p["learning_rate"] for p in summary["no_curriculum"]["curriculum"]] == pytest.approx(
        [r * 3.0 for r in RATES]
    )
    assert max(m["learning_rate"] for m in _metrics(tmp_path / "out")) == pytest.approx(7e-4)


@pytest.mark.parametrize(
    ("training", "words"),
    [
        ({"lr_scale": 0}, "training.lr_scale: Input should be greater than 0"),
        ({"lr_scale": -1.0}, "training.lr_scale: Input should be greater than 0"),
        ({"curriculum": False, "no_curriculum_learning_rate": 0}, "training.no_curriculum_learning_rate: Input"),
        ({"no_curriculum_learning_rate": 1e-4}, "training: no_curriculum_learning_rate is set but curriculum is"),
        ({"curriculm": False}, "unknown key 'training.curriculm'"),
    ],
    ids=["lr_scale_zero", "lr_scale_negative", "rate_zero", "rate_without_curriculum_false", "misspelt"],
)
def test_bad_control_settings_fail_with_one_line(tiny_model_dir, tmp_path, training, words):
    with pytest.raises(ConfigError) as err:
        make_config(tiny_model_dir, tmp_path, **training)
    assert words in str(err.value) and "\n" not in str(err.value)
