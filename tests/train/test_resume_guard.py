"""--resume refuses settings it cannot honour; --fresh starts over; checkpoints load without unpickling code."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from emergent.data.store import write_conversations
from emergent.train import checkpoint as ckpt
from emergent.train import resume_guard
from emergent.train.trainer import train

from .conftest import PHASES, conversations, make_config, write_phases

QUICK = {"max_steps_per_phase": 1, "validation": {"enabled": False}}

# Each setting the guard records, a changed value for it, and the words the refusal must contain.
CHANGES = [
    ("world_size", 2, "number of processes"),
    ("batch_size", 2, "training.batch_size"),
    ("gradient_accumulation", 4, "training.gradient_accumulation"),
    ("max_seq_len", 256, "training.max_seq_len"),
    ("packing", False, "training.packing"),
    ("overlong", "drop", "training.overlong"),
    ("seed", 1, "seed"),
    ("epochs_per_phase", 2.0, "training.epochs_per_phase"),
    ("max_steps_per_phase", 9, "training.max_steps_per_phase"),
    ("max_examples_per_phase", 5, "training.max_examples_per_phase"),
    ("lr_scheduler", "linear", "training.lr_scheduler"),
    ("warmup_ratio", 0.1, "training.warmup_ratio"),
    ("lr_scale", 10.0, "training.lr_scale"),
    ("curriculum", False, "training.curriculum"),
    ("no_curriculum_learning_rate", 1e-4, "training.no_curriculum_learning_rate"),
    ("mask_history", True, "training.mask_history"),
    ("phases", [{"name": "p", "learning_rate": 1.0}], "curriculum.phases"),
    ("peft", {"r": 8}, "peft"),
    ("base_model", "other", "model.name"),
    ("data", {"phase1_foundation": "1:x"}, "the data folder"),
]


@pytest.fixture(scope="module")
def interrupted(tiny_model_dir, tmp_path_factory):
    """A finished run with its last two phases marked unfinished: what a crash in phase 4 leaves."""
    tmp = tmp_path_factory.mktemp("guard")
    data = write_phases(tmp / "data", per_phase=4, validation=0)
    cfg = make_config(tiny_model_dir, tmp, **QUICK)
    train(cfg, data, tmp / "out", show_progress=False)
    return {"tmp": tmp, "data": data, "out": tmp / "out"}


def _unfinish(out: Path) -> None:
    for name in list(PHASES)[3:]:
        ckpt.phase_done_file(out, name).unlink(missing_ok=True)


@pytest.mark.parametrize(("key", "value", "words"), CHANGES, ids=[c[0] for c in CHANGES])
def test_every_recorded_setting_is_compared(key, value, words, tmp_path):
    recorded = {k: None for k, _v, _w in CHANGES} | {"data": {}}
    (tmp_path / resume_guard.RUN_SETTINGS).write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match="cannot resume") as err:
        resume_guard.check_resume(tmp_path, recorded | {key: value}, resume=True, has_run=True)
    lines = str(err.value).splitlines()
    assert sum(words in line for line in lines) == 1, lines
    assert "--fresh" in lines[-1]
    resume_guard.check_resume(tmp_path, recorded, resume=True, has_run=True)  # unchanged: accepted


def test_every_setting_that_fixes_the_data_position_is_recorded(interrupted):
    recorded = json.loads((interrupted["out"] / resume_guard.RUN_SETTINGS).read_text())
    # mask_history is recorded only when on, so runs from before it existed still resume.
    assert set(recorded) == {k for k, _v, _w in CHANGES} - {"mask_history"}
    assert recorded["world_size"] == 1 and recorded["batch_size"] == 1 and recorded["max_seq_len"] == 192
    assert set(recorded["data"]) == set(PHASES)


def test_resume_with_another_batch_size_is_refused_and_leaves_the_run_alone(interrupted, tiny_model_dir):
    out = interrupted["out"]
    _unfinish(out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK, batch_size=2)
    with pytest.raises(ValueError, match=r"training\.batch_size: the run started with 1, now 2"):
        train(cfg, interrupted["data"], out, resume=True, show_progress=False)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_resume_with_another_lr_scale_or_without_the_curriculum_is_refused(interrupted, tiny_model_dir):
    out = interrupted["out"]
    _unfinish(out)
    cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK, lr_scale=10)
    with pytest.raises(ValueError, match=r"training\.lr_scale: the run started with 1\.0, now 10\.0"):
        train(cfg, interrupted["data"], out, resume=True, show_progress=False)
    cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK, curriculum=False)
    with pytest.raises(ValueError, match=r"training\.curriculum: the run started with True, now False"):
        train(cfg, interrupted["data"], out, resume=True, show_progress=False)


def test_resume_with_another_process_count_is_refused(interrupted, tiny_model_dir):
    out = interrupted["out"]
    _unfinish(out)
    recorded = json.loads((out / resume_guard.RUN_SETTINGS).read_text())
    (out / resume_guard.RUN_SETTINGS).write_text(json.dumps(recorded | {"world_size": 2}))
    try:
        cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK)
        with pytest.raises(ValueError, match=r"number of processes.*started with 2, now 1"):
            train(cfg, interrupted["data"], out, resume=True, show_progress=False)
    finally:
        (out / resume_guard.RUN_SETTINGS).write_text(json.dumps(recorded))


def test_resume_on_rebuilt_data_is_refused(interrupted, tiny_model_dir, tmp_path):
    rebuilt = write_phases(tmp_path / "data", per_phase=4, validation=0)
    write_conversations(conversations(5, offset=700), rebuilt / "phases" / "phase2_analytical.parquet")
    _unfinish(interrupted["out"])
    cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK)
    with pytest.raises(ValueError, match=r"data folder.*phase2_analytical differ"):
        train(cfg, rebuilt, interrupted["out"], resume=True, show_progress=False)


def test_resume_with_the_same_settings_finishes(interrupted, tiny_model_dir):
    _unfinish(interrupted["out"])
    cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK)
    summary = train(cfg, interrupted["data"], interrupted["out"], resume=True, show_progress=False)
    assert [p["name"] for p in summary["phases"]] == list(PHASES)


def test_a_run_without_recorded_settings_is_not_resumed(interrupted, tiny_model_dir, tmp_path):
    out = tmp_path / "old"
    (out / "phases").mkdir(parents=True)
    cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK)
    with pytest.raises(ValueError, match=r"without run_settings\.json.*--fresh"):
        train(cfg, interrupted["data"], out, resume=True, show_progress=False)


def test_fresh_deletes_the_previous_run_and_trains_again(interrupted, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    cfg = make_config(tiny_model_dir, interrupted["tmp"], **QUICK)
    train(cfg, interrupted["data"], out, show_progress=False)
    (out / "checkpoints" / "stale-step0000001").mkdir(parents=True)
    cfg2 = make_config(tiny_model_dir, interrupted["tmp"], **QUICK, batch_size=2)
    with pytest.raises(ValueError, match="pass one of them"):
        train(cfg2, interrupted["data"], out, resume=True, fresh=True, show_progress=False)
    train(cfg2, interrupted["data"], out, fresh=True, show_progress=False)
    assert not (out / "checkpoints" / "stale-step0000001").exists()
    assert json.loads((out / resume_guard.RUN_SETTINGS).read_text())["batch_size"] == 2


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(_RunsCode.marker),))


def test_a_tampered_checkpoint_is_refused_without_running_its_code(tmp_path):
    folder = tmp_path / "phase1_foundation-step0000002"
    folder.mkdir()
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, folder / "adapter.safetensors")
    (folder / "state.json").write_text("{}")
    ckpt.write_rng(folder, 0)
    _RunsCode.marker = str(tmp_path / "pwned")
    with (folder / "scheduler.pt").open("wb") as f:
        pickle.dump({"last_epoch": 1, "payload": _RunsCode()}, f)
    with pytest.raises(ValueError, match=r"scheduler\.pt: refused.*could run code"):
        ckpt.read_checkpoint(folder, 0)
    assert not (tmp_path / "pwned").exists()


def test_rng_state_round_trips_through_a_safe_load(tmp_path):
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    ckpt.write_rng(tmp_path, 0)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    ckpt.set_rng_state(torch.load(tmp_path / "rng-rank0.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
