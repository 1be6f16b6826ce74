"""The hand-off records (emergent.handoff): each stage's real output fits its record strictly, round-trips,
carries schema_version, and a file that does not fit fails naming the file and the field."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from emergent.config import load_config, parse_config
from emergent.handoff import (
    SCHEMA_VERSION,
    CompositionStatus,
    EvalResult,
    HandoffError,
    Manifest,
    PhaseSummary,
    Primary,
    TrainSummary,
    ValidationRecord,
    read_eval_result,
    read_manifest,
    read_train_summary,
    read_validation_log,
    validated,
    write_manifest,
    write_train_summary,
)

HERE = Path(__file__).parent


def _round_trips(rec, model) -> None:
    again = model.model_validate_json(rec.model_dump_json(exclude_unset=True))
    assert again == rec


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    sys.path.insert(0, str(HERE / "curate"))
    from test_build import make_config, make_corpora

    from emergent.curate.build import build

    folder = tmp_path_factory.mktemp("build")
    make_corpora(folder, n=40)
    build(load_config(make_config(folder)), folder / "data", show_progress=False)
    return folder / "data"


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory) -> Path:
    from emergent.train.trainer import train
    from train.conftest import config_dict, write_phases

    tmp = tmp_path_factory.mktemp("train")
    data = write_phases(tmp / "data", per_phase=4, validation=4)
    phases = [{"name": "phase1_foundation", "learning_rate": 2e-3, "categories": ["technical", "factual"]},
              {"name": "phase2_analytical", "learning_rate": 1e-3, "categories": ["analytical"]}]  # fmt: skip
    cfg = parse_config(config_dict(tiny_model_dir, tmp, phases, max_seq_len=96), tmp / "config.yaml")
    train(cfg, data, tmp / "out", show_progress=False)
    return tmp / "out"


def test_the_build_writes_a_manifest_that_fits_strictly(built: Path) -> None:
    raw = json.loads((built / "manifest.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    strict = validated(Manifest, raw)  # no key the record lacks, none it needs missing
    m = read_manifest(built / "manifest.json")
    assert m == strict and m.counts.input == sum(
        getattr(m.counts, k) for k in ("quarantined", "filtered", "exact_duplicates", "near_duplicates",
                                       "prompt_duplicates", "contaminated", "capped", "output")
    )  # fmt: skip
    assert all(isinstance(c.status, CompositionStatus) for c in m.composition.values())
    assert {c["status"] for c in raw["composition"].values()} <= {s.value for s in CompositionStatus}
    _round_trips(m, Manifest)


def test_training_writes_a_summary_phases_and_a_log_that_fit_strictly(trained: Path) -> None:
    raw = json.loads((trained / "train_summary.json").read_text())
    summary = validated(TrainSummary, raw)
    assert [p.name for p in summary.phases] == ["phase1_foundation", "phase2_analytical"]
    assert summary.validation is not None and summary.validation.base is not None
    for p in summary.phases:
        validated(PhaseSummary, json.loads((trained / "phases" / p.name / "phase.json").read_text()))
    log = read_validation_log(trained / "validation.jsonl")
    assert [r.phase for r in log] == ["base", "phase1_foundation", "phase2_analytical"]
    for line in (trained / "validation.jsonl").read_text().splitlines():
        assert json.loads(line)["schema_version"] == SCHEMA_VERSION
        validated(ValidationRecord, json.loads(line))
    # The writer the trainer is to call: what it writes reads back the same.
    out = trained / "again.json"
    write_train_summary(out, raw)
    assert json.loads(out.read_text()) == {**raw, "schema_version": SCHEMA_VERSION}
    assert read_train_summary(out) == summary
    _round_trips(summary, TrainSummary)


def test_evaluation_writes_an_eval_json_that_fits_strictly(trained: Path, tiny_model_dir: Path, tmp_path: Path):
    from emergent.evaluate.run import evaluate

    cfg = {
        "name": "t",
        "output_dir": str(tmp_path / "run"),
        "model": {"name": str(tiny_model_dir)},
        "eval": {"prompts_per_context": 1, "consistency_dialogues": 1, "transition_dialogues": 1,
                 "dialogues_per_kind": 1, "batch_size": 8, "decoding": {"max_new_tokens": 4},
                 "bootstrap_samples": 100},
    }  # fmt: skip
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(cfg))
    result = evaluate(load_config(tmp_path / "eval.yaml"), tmp_path / "out", trained / "adapter", show_progress=False,
                      data_dir=trained.parent / "data")  # fmt: skip
    raw = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert raw == json.loads(json.dumps(result)) and raw["schema_version"] == SCHEMA_VERSION
    assert list(raw)[0] == "primary"
    ev = validated(EvalResult, raw)
    assert ev == read_eval_result(tmp_path / "out" / "eval.json")
    assert set(ev.primary.sides) == {"base", "adapter"} and ev.primary.difference is not None
    assert ev.range.sides["adapter"].per_context and ev.heldout and set(ev.heldout.sides) == {"base", "adapter"}
    _round_trips(ev, EvalResult)
    # Side-keyed parts are written back exactly as the evaluation wrote them.
    assert json.loads(ev.model_dump_json(exclude_unset=True))["primary"] == raw["primary"]


def test_a_file_that_does_not_fit_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps({"counts": {"input": "many"}}))
    with pytest.raises(HandoffError, match=r"manifest\.json: counts\.input: .*rerun the stage"):
        read_manifest(bad)
    bad.write_text('{"counts": ')
    with pytest.raises(HandoffError, match=r"manifest\.json: .*Invalid JSON"):
        read_manifest(bad)
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"primary": {"name": "x", "base": {"mean": "high"}}}))
    with pytest.raises(HandoffError, match=r"eval\.json: primary\.base\.mean"):
        read_eval_result(ev)


def test_writers_refuse_keys_the_record_does_not_know_or_lacks(tmp_path: Path) -> None:
    with pytest.raises(HandoffError, match=r"unknown keys \['colour'\].*emergent\.handoff\.ValidationRecord"):
        validated(ValidationRecord, {"phase": "base", "phase_index": 0, "step": 0, "global_step": 0, "loss": 1.0,
                                     "by_category": {}, "examples": 1, "loss_tokens": 3, "seconds": 0.1,
                                     "colour": "red"})  # fmt: skip
    with pytest.raises(HandoffError, match=r"m\.json: \(top level\): Manifest: missing keys \[.*'counts'"):
        write_manifest(tmp_path / "m.json", {"stage": "build"})
    assert not (tmp_path / "m.json").exists()


def test_an_older_file_reads_with_its_missing_keys_as_none(tmp_path: Path) -> None:
    old = tmp_path / "manifest.json"
    old.write_text(json.dumps({"counts": {"input": 3, "output": 3}, "retired_key": 1}))
    m = read_manifest(old)
    assert m.schema_version == 1 and m.counts.capped is None and m.validation is None and m.sources == {}


def test_side_keyed_records_keep_the_files_layout() -> None:
    est = {"mean": 0.5, "ci95": [0.4, 0.6], "n": 10}
    raw = {"name": "appropriate_response_rate", "contexts": ["technical"],
           "base": {**est, "missing": 0, "per_context": {"technical": est}, "graded": est},
           "difference": {**est, "per_context": {}}}  # fmt: skip
    p = Primary.model_validate(raw)
    assert p.sides["base"].per_context["technical"].hi == 0.6 and p.difference.lo == 0.4
    assert json.loads(p.model_dump_json(exclude_unset=True)) == raw
