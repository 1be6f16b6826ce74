"""Tool use on real rows: SGD calls with results and answers, BFCL call-only, the OpenAI `tools` shape,
no dataset internals in the schemas, no date the context does not give, APIBench in `technical`."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from emergent.config import load_config
from emergent.data.config import IngestConfig, SourceConfig
from emergent.data.formats.sgd import RELATIVE_DAYS
from emergent.data.ingest import IngestStream
from emergent.lm.render import encode, render
from emergent.schema import make_conversation, validate_conversation

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "emergent" / "data" / "sample"
SERVICE_SUFFIX = re.compile(r"\(\w+_\d+\)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _ingest(source: SourceConfig) -> tuple[list[dict], list[dict]]:
    quarantined: list[dict] = []
    return list(IngestStream([source], IngestConfig(), quarantined.append)), quarantined


def _source(config: str, name: str) -> SourceConfig:
    return next(s for s in load_config(ROOT / "configs" / config).sources if s.name == name)


@pytest.fixture(scope="module")
def sgd_shared(shared_data: Path) -> list[dict]:
    records, quarantined = _ingest(_source("corpora.yaml", "sgd"))
    assert not quarantined, quarantined[:2]
    return records


@pytest.fixture(scope="module")
def sgd_sample() -> list[dict]:
    records, quarantined = _ingest(_source("quickstart.yaml", "sgd"))
    assert not quarantined, quarantined[:2]
    return records


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir: Path):
    return AutoTokenizer.from_pretrained(tokenizer_dir)


def _raw_dates_said_today(dialogues: list[dict]) -> dict[str, set[str]]:
    """dialogue_id -> the current dates its rows imply, read straight from the file (not via the reader)."""
    out: dict[str, set[str]] = {}
    for d in dialogues:
        said: dict[str, list[str]] = {}
        for t in d["turns"]:
            for f in t["frames"]:
                if t["speaker"] == "USER":
                    said = f["state"]["slot_values"]
                for slot, value in (f.get("service_call") or {}).get("parameters", {}).items():
                    for s in said.get(slot, []):
                        if s.lower() in RELATIVE_DAYS and ISO_DATE.fullmatch(value):
                            day = dt.date.fromisoformat(value) - dt.timedelta(days=RELATIVE_DAYS[s.lower()])
                            out.setdefault(d["dialogue_id"], set()).add(day.isoformat())
    return out


@pytest.mark.parametrize("which", ["sgd_shared", "sgd_sample"])
def test_sgd_tools_are_openai_shaped_without_dataset_internals(which: str, request: pytest.FixtureRequest) -> None:
    records = request.getfixturevalue(which)
    for rec in records:
        assert validate_conversation(rec) is None
        for tool in rec["tools"]:
            assert tool["type"] == "function" and set(tool["function"]) == {"name", "description", "parameters"}
            assert not SERVICE_SUFFIX.search(tool["function"]["description"]), tool
        assert "dontcare" not in json.dumps(rec["tools"]), rec["_origin"]


@pytest.mark.parametrize("which", ["sgd_shared", "sgd_sample"])
def test_sgd_call_dates_come_with_the_current_date(which: str, request: pytest.FixtureRequest) -> None:
    records = request.getfixturevalue(which)
    folder = (request.getfixturevalue("shared_data") / "sgd") if which == "sgd_shared" else SAMPLE / "sgd"
    dialogues = json.loads((folder / "dialogues_001.json").read_text())
    implied = _raw_dates_said_today(dialogues)
    assert implied and all(len(v) == 1 for v in implied.values())  # each dialogue implies one current date
    dated = 0
    for rec, raw in zip(records, dialogues, strict=True):
        args = [json.loads(c["function"]["arguments"]) for m in rec["messages"] for c in m.get("tool_calls") or []]
        if not any(ISO_DATE.fullmatch(v) for a in args for v in a.values() if isinstance(v, str)):
            assert rec["messages"][0]["role"] == "user"  # nothing to date: no system line
            continue
        dated += 1
        first = rec["messages"][0]
        assert first["role"] == "system" and first["content"].startswith("Today is "), rec["_origin"]
        today = dt.datetime.strptime(first["content"], "Today is %A, %d %B %Y.").date().isoformat()
        if raw["dialogue_id"] in implied:
            assert {today} == implied[raw["dialogue_id"]], raw["dialogue_id"]
    assert dated > 0.9 * len(records)


def test_sgd_answers_follow_the_results_they_use(sgd_shared: list[dict]) -> None:
    first = sgd_shared[0]  # dev 1_00000... the restaurant reservation at Sino, San Jose
    roles = [m["role"] for m in first["messages"]]
    i = next(i for i, m in enumerate(first["messages"]) if m.get("tool_calls"))
    assert roles[i : i + 3] == ["assistant", "tool", "assistant"]
    result, answer = json.loads(first["messages"][i + 1]["content"]), first["messages"][i + 2]["content"]
    assert result[0]["phone_number"] == "408-247-8880" and "408-247-8880" in answer
    with_results = sum(1 for r in sgd_shared if "tool" in (m["role"] for m in r["messages"]))
    assert with_results > 100  # of 128 dialogues


def test_sgd_undated_calls_are_quarantined(shared_data: Path, tmp_path: Path) -> None:
    dialogues = json.loads((shared_data / "sgd/dialogues_001.json").read_text())
    shutil.copy(shared_data / "sgd/schema.json", tmp_path / "schema.json")
    undated = json.loads(json.dumps(dialogues[0]))
    for turn in undated["turns"]:  # nothing the user says fixes today's date any more
        for frame in turn["frames"]:
            frame.get("state", {}).get("slot_values", {}).pop("date", None)
    no_call = json.loads(json.dumps(dialogues[0]))
    for turn in no_call["turns"]:
        for frame in turn["frames"]:
            frame.pop("service_call", None)
    (tmp_path / "dialogues_001.json").write_text(json.dumps([undated, no_call]))
    source = SourceConfig(name="sgd", format="sgd", path="dialogues_001.json", license="CC-BY-SA-4.0")
    source.resolve_paths(tmp_path, "test")
    records, quarantined = _ingest(source)
    assert [q["reason"] for q in quarantined] == ["undated_call"]
    assert len(records) == 1 and records[0]["messages"][0]["role"] == "user"


def test_sgd_renders_call_result_and_answer_in_the_hermes_layout(sgd_shared: list[dict], tokenizer) -> None:
    rec = sgd_shared[0]
    text = render(rec, tokenizer).text
    assert "Restaurants_2" not in text and "dontcare" not in text
    assert "<|im_start|>system\nToday is Friday, 1 March 2019.\n\nYou may call" in text
    assert '<tool_call>\n{"name": "ReserveRestaurant", "arguments": {"date": "2019-03-01"' in text
    assert '<|im_start|>tool\n<tool_response>\n[{"address": "377 Santana Row #1000"' in text
    ex = encode(rec, tokenizer)
    trained = tokenizer.decode([t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab])
    assert '{"name": "ReserveRestaurant"' in trained and "Their phone number is 408-247-8880." in trained
    assert "<tool_response>" not in trained and '377 Santana Row #1000"' not in trained


@pytest.mark.parametrize("config", ["corpora.yaml", "quickstart.yaml"])
def test_bfcl_records_are_call_only_in_the_openai_shape(config: str, request: pytest.FixtureRequest) -> None:
    if config == "corpora.yaml":
        request.getfixturevalue("shared_data")
    records, _ = _ingest(_source(config, "bfcl"))
    assert records
    for rec in records:
        assert all(m["role"] != "tool" for m in rec["messages"]), rec["_origin"]  # BFCL has no results
        assert rec["messages"][-1].get("tool_calls"), rec["_origin"]  # the call is the last thing said
        assert all(t["type"] == "function" and "name" in t["function"] for t in rec["tools"])


@pytest.mark.parametrize("config", ["corpora.yaml", "quickstart.yaml"])
def test_apibench_is_technical(config: str, request: pytest.FixtureRequest) -> None:
    if config == "corpora.yaml":
        request.getfixturevalue("shared_data")
    stream = IngestStream([_source(config, "apibench")], IngestConfig(), lambda e: None)
    records = list(stream)
    assert records and all(r["_category"] == "technical" and not r["tools"] for r in records)
    assert "torch.hub.load" in records[0]["messages"][-1]["content"]


def test_tools_are_stored_in_the_openai_shape_and_checked() -> None:
    fn = {"name": "f", "description": "F.", "parameters": {"type": "object", "properties": {}}}
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    for given in ([fn], [{"type": "function", "function": fn}]):
        conv = make_conversation(msgs, source="s", origin="o", tools=given)
        assert conv["tools"] == [{"type": "function", "function": fn}]
        assert validate_conversation(conv) is None
    for bad in ([{"description": "no name"}], [{"type": "function", "function": {"name": "f", "parameters": "x"}}]):
        assert validate_conversation({"messages": msgs, "tools": bad}) == "bad_tool_schema"
