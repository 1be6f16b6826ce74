"""Named corpus readers for tool use, APIs, arguments, instructions and task dialogues, on the real
corpora: every row accounted for, every record valid, gold kept.

Counts are taken here independently of the formats (json/csv/zipfile straight from the files), so a
format that drops or invents rows fails.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from emergent.config import load_config
from emergent.data.config import IngestConfig, SourceConfig
from emergent.data.formats import ibm_debater
from emergent.data.formats.apibench import parse_fields
from emergent.data.formats.bfcl_calls import json_schema
from emergent.data.ingest import IngestStream
from emergent.errors import ConfigError, Reject
from emergent.schema import validate_conversation

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "corpora.yaml"
JSON_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


@pytest.fixture(scope="module")
def sources(shared_data: Path) -> dict[str, SourceConfig]:
    mine = set(expected_counts(shared_data))  # part B's corpora out of configs/corpora.yaml
    return {s.name: s for s in load_config(CONFIG).sources if s.name in mine}


@pytest.fixture(scope="module")
def ingested(sources: dict[str, SourceConfig]) -> dict[str, tuple[list[dict], dict, list[dict]]]:
    """name -> (accepted records, stats, quarantine entries), ingesting each source once."""
    out = {}
    for name, source in sources.items():
        quarantined: list[dict] = []
        stream = IngestStream([source], IngestConfig(), quarantined.append)
        records = list(stream)
        out[name] = (records, stream.stats[name].as_dict(), quarantined)
    return out


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _zip_csv(path: Path, member: str) -> list[dict]:
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.TextIOWrapper(zf.open(member), encoding="utf-8")))


def expected_counts(data: Path) -> dict[str, int]:
    gorilla = data / "gorilla"
    bfcl = ["simple_python", "multiple", "parallel", "parallel_multiple", "multi_turn_base"]
    argq = _zip_csv(data / "ibm-debater/arg_quality_rank_30k.zip", "arg_quality_rank_30k.csv")
    argkp = _zip_csv(data / "ibm-debater/ArgKP-2021.zip", "ArgKP-2021_dataset.csv")
    return {
        "bfcl": sum(len(_lines(gorilla / f"BFCL_v4_{n}.json")) for n in bfcl),
        "apibench": len(_lines(gorilla / "torchhub_train.json")),
        "ibm_debater_argq": len({r["topic"] for r in argq}),
        "ibm_debater_argkp": len({(r["topic"], r["key_point"]) for r in argkp}),
        "self_instruct": sum(
            len(r["instances"]) for r in _lines(data / "self-instruct/user_oriented_instructions.jsonl")
        ),
        "alpaca_seed": sum(len(r["instances"]) for r in _lines(data / "alpaca-seed/seed_tasks.jsonl")),
        "sgd": len(json.loads((data / "sgd/dialogues_001.json").read_text())),
        "topical_chat": len(json.loads((data / "topical-chat/valid_freq.json").read_text())),
        "commonsense_dialogues": len(json.loads((data / "commonsense-dialogues/valid.json").read_text())),
    }


def test_every_row_accounted_for_and_every_record_valid(shared_data: Path, ingested: dict) -> None:
    expected = expected_counts(shared_data)
    assert set(ingested) == set(expected)
    for name, (records, stats, quarantined) in ingested.items():
        assert stats["input"] == expected[name], name
        assert stats["input"] == stats["accepted"] + stats["quarantined"] == len(records) + len(quarantined), name
        assert "convert_error" not in stats["reasons"], (
            name,
            [q for q in quarantined if q["reason"] == "convert_error"][:2],
        )
        assert stats["accepted"] >= 0.99 * stats["input"], (name, stats["reasons"])
        for rec in records:
            assert validate_conversation(rec) is None, (name, rec["_origin"])
            assert rec["_source"] == name and rec["_license"]


def _bfcl_gold(data: Path) -> tuple[dict[str, dict], dict[str, list]]:
    """origin ("file:line") -> question row, and id -> ground truth, read straight from the files."""
    questions, answers = {}, {}
    for path in sorted((data / "gorilla").glob("BFCL_v4_*.json")):
        for i, row in enumerate(_lines(path), 1):
            questions[f"{path.name}:{i}"] = row
        for row in _lines(data / "gorilla/possible_answer" / path.name):
            answers[row["id"]] = row["ground_truth"]
    return questions, answers


def _allowed(value: object, allowed: list) -> bool:
    for option in allowed:
        if isinstance(option, dict) and isinstance(value, dict):
            if set(value) <= set(option) and all(_allowed(v, option[k]) for k, v in value.items()):
                return True
        elif option == value and option != "":
            return True
    return False


def _types(schema: object) -> set[str]:
    if isinstance(schema, list):
        return set().union(*map(_types, schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    return found.union(*map(_types, schema.values()))


def test_bfcl_calls_match_the_gold_answers(shared_data: Path, ingested: dict) -> None:
    records, stats, _ = ingested["bfcl"]
    assert stats["reasons"] == {"turn_without_calls": 2}  # multi_turn_base_167 and _180 have turns with no gold call
    questions, answers = _bfcl_gold(shared_data)
    parallel_sizes = []
    for rec in records:
        q = questions[rec["_origin"]]
        assert rec["tools"] and all(t["type"] == "function" for t in rec["tools"]), rec["_origin"]  # OpenAI shape
        assert _types([t["function"] for t in rec["tools"]]) <= JSON_SCHEMA_TYPES, rec["_origin"]
        calls = [c["function"] for m in rec["messages"] for c in m.get("tool_calls") or []]
        assert calls, rec["_origin"]
        if "involved_classes" in q:
            continue
        gold = answers[q["id"]]
        assert [c["name"] for c in calls] == [next(iter(g)) for g in gold]
        for call, g in zip(calls, gold, strict=True):
            args, allowed = json.loads(call["arguments"]), next(iter(g.values()))
            assert all(_allowed(v, allowed[k]) for k, v in args.items()), (q["id"], args, allowed)
            required = {k for k, opts in allowed.items() if any(o != "" for o in opts)}
            assert required <= set(args), (q["id"], required - set(args))
        if q["id"].startswith("parallel_"):
            parallel_sizes.append(len(calls))
    assert parallel_sizes and min(parallel_sizes) >= 2


def test_bfcl_multi_turn_keeps_every_turn_in_order(ingested: dict) -> None:
    records, _, _ = ingested["bfcl"]
    first = next(r for r in records if r["_origin"] == "BFCL_v4_multi_turn_base.json:1")
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["user", "assistant"] * 4
    turns = [
        [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in m["tool_calls"]]
        for m in first["messages"]
        if m["role"] == "assistant"
    ]
    assert turns[0] == [
        ("cd", {"folder": "document"}),
        ("mkdir", {"dir_name": "temp"}),
        ("mv", {"source": "final_report.pdf", "destination": "temp"}),
    ]
    assert turns[2] == [("sort", {"file_name": "final_report.pdf"})]  # positional argument named from the func doc
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"cd", "mv", "post_tweet"} <= names and "cp" not in names  # cp is this entry's excluded_function
    multi = [r for r in records if r["_origin"].startswith("BFCL_v4_multi_turn_base")]
    assert sum(1 for r in multi if sum(m["role"] == "user" for m in r["messages"]) >= 3) > 100


def test_bfcl_question_without_answer_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "possible_answer").mkdir()
    fn = {
        "name": "area",
        "description": "Area.",
        "parameters": {"type": "dict", "properties": {"r": {"type": "float"}}, "required": ["r"]},
    }
    questions = [
        {"id": f"simple_python_{i}", "question": [[{"role": "user", "content": f"Area for r={i}?"}]], "function": [fn]}
        for i in range(2)
    ]
    (tmp_path / "BFCL_v4_simple_python.json").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    (tmp_path / "possible_answer/BFCL_v4_simple_python.json").write_text(
        json.dumps({"id": "simple_python_0", "ground_truth": [{"area": {"r": [2.0], "unit": [""]}}]}) + "\n"
    )
    source = SourceConfig(name="bfcl", format="bfcl", path="BFCL_v4_simple_python.json")
    source.resolve_paths(tmp_path, "test")
    quarantined: list[dict] = []
    records = list(IngestStream([source], IngestConfig(), quarantined.append))
    assert [q["reason"] for q in quarantined] == ["missing_answer"]
    assert json.loads(records[0]["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {
        "r": 2.0
    }  # "" -> dropped
    assert records[0]["tools"][0]["function"]["parameters"]["type"] == "object"


def test_bfcl_types_become_json_schema() -> None:
    schema = {
        "type": "dict",
        "properties": {
            "type": {"type": "string"},
            "x": {"type": "float"},
            "p": {"type": "tuple", "items": {"type": "any"}},
        },
    }
    assert json_schema(schema) == {
        "type": "object",
        "properties": {"type": {"type": "string"}, "x": {"type": "number"}, "p": {"type": "array", "items": {}}},
    }


def test_apibench_answers_show_the_hub_call(ingested: dict) -> None:
    records, stats, quarantined = ingested["apibench"]
    assert stats["reasons"] == {"no_api_call": 1}  # the one NLI row ('contradiction') in the TorchHub file
    for rec in records:
        answer = rec["messages"][-1]["content"]
        assert "torch.hub.load" in answer and "```python" in answer, rec["_origin"]
        assert "'Instruction'" not in rec["messages"][0]["content"]


def test_apibench_parses_unquoted_and_badly_quoted_fields() -> None:
    text = (
        "{'Instruction': Find a model, please., 'Output': {'domain': 'Classification', 'api_call': "
        "'model = torch.hub.load('a/b', 'c', **{'topN': 6, 'device':'cpu'})', 'api_provider': 'PyTorch', "
        "'explanation': \"Load b's model.\", 'code': 'import torch\nmodel = torch.hub.load(\"a/b\", \"c\")'}}"
    )
    parts = parse_fields(text)
    assert parts["Instruction"] == "Find a model, please."
    assert parts["api_call"] == "model = torch.hub.load('a/b', 'c', **{'topN': 6, 'device':'cpu'})"
    assert parts["explanation"] == "Load b's model."
    assert parts["code"] == 'import torch\nmodel = torch.hub.load("a/b", "c")'
    with pytest.raises(Reject):
        parse_fields("not a record")


def test_ibm_debater_groups_are_balanced_and_ranked(shared_data: Path, ingested: dict) -> None:
    records, _, _ = ingested["ibm_debater_argq"]
    argq = _zip_csv(shared_data / "ibm-debater/arg_quality_rank_30k.zip", "arg_quality_rank_30k.csv")
    for rec in records:
        answer = rec["messages"][1]["content"]
        pro, con = answer.split("Arguments against:")
        assert pro.count("\n- ") == 3 and con.count("\n- ") == 3, rec["_origin"]
    topic = records[0]["_origin"].split("#topic=", 1)[1]
    best_pro = max((r for r in argq if r["topic"] == topic and r["stance_WA"] == "1"), key=lambda r: float(r["WA"]))
    first_bullet = records[0]["messages"][1]["content"].split("\n- ")[1]
    assert " ".join(best_pro["argument"].split())[5:40].lower() in first_bullet.lower()
    kp_records, kp_stats, _ = ingested["ibm_debater_argkp"]
    assert kp_stats["license"] == "CDLA-Sharing-1.0"
    for r in kp_records:  # the key point is quoted in the request, and the reply gives the other side
        key_point = r["_origin"].split("#key_point=", 1)[1]
        assert ibm_debater.clean(key_point) in r["messages"][0]["content"], r["_origin"]
        assert "would answer with points such as" in r["messages"][1]["content"]


def test_ibm_debater_argkp_needs_its_own_licence(sources: dict[str, SourceConfig]) -> None:
    source = sources["ibm_debater_argkp"].model_copy(update={"license": None})
    with pytest.raises(ConfigError, match="CDLA-Sharing-1.0"):
        list(IngestStream([source], IngestConfig(), lambda e: None))


def test_self_instruct_and_alpaca_seed_expand_instances(ingested: dict) -> None:
    for name in ("self_instruct", "alpaca_seed"):
        records, stats, _ = ingested[name]
        assert all(r["_origin"].rsplit("#", 1)[1].isdigit() for r in records)
        assert stats["category"] is None
    first = ingested["self_instruct"][0][0]
    assert first["messages"][0]["content"].startswith("The sentence you are given might be too wordy")
    assert first["messages"][0]["content"].endswith("please let me know.")


def test_sgd_service_calls_are_followed_by_their_results(shared_data: Path, ingested: dict) -> None:
    records, _, _ = ingested["sgd"]
    dialogues = json.loads((shared_data / "sgd/dialogues_001.json").read_text())
    service_calls = sum(1 for d in dialogues for t in d["turns"] for f in t["frames"] if f.get("service_call"))
    calls = nonempty_results = 0
    with_results = sum(
        1
        for d in dialogues
        for t in d["turns"]
        for f in t["frames"]
        if f.get("service_call") and f.get("service_results")
    )
    for rec in records:
        tools = {t["function"]["name"] for t in rec["tools"]}
        msgs = rec["messages"]
        for i, m in enumerate(msgs):
            for j, call in enumerate(m.get("tool_calls") or []):
                calls += 1
                assert call["function"]["name"] in tools
                result = msgs[i + 1 + j]
                assert result["role"] == "tool" and result["tool_call_id"] == call["id"]
                results = json.loads(result["content"])
                assert isinstance(results, list)
                nonempty_results += bool(results)
            if m.get("tool_calls"):
                assert msgs[i + 1 + len(m["tool_calls"])]["role"] == "assistant"  # the utterance after the results
    assert calls == service_calls > 0
    assert nonempty_results == with_results > 0  # the service's real results are carried, not dropped


def test_dialogues_alternate(shared_data: Path, ingested: dict) -> None:
    for name in ("topical_chat", "commonsense_dialogues"):
        for rec in ingested[name][0]:
            roles = [m["role"] for m in rec["messages"]]
            assert roles == ["user", "assistant"] * (len(roles) // 2) and len(roles) >= 2, (name, rec["_origin"])
    contexts = {
        v["context"] for v in json.loads((shared_data / "commonsense-dialogues/valid.json").read_text()).values()
    }
    texts = Counter(m["content"] for r in ingested["commonsense_dialogues"][0] for m in r["messages"])
    assert not contexts & set(texts)  # the crowd-worker scene description is not a turn
