"""Named corpus readers for chat, support, reasoning, ethics and code corpora, on the real files of
../shared/data (configs/corpora.yaml).

Each corpus is ingested whole; the number of records in its files is counted here with the standard
library, independently of emergent's readers, and must equal accepted + quarantined.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from emergent.config import parse_config
from emergent.data.ingest import IngestStream
from emergent.errors import ConfigError, Reject
from emergent.schema import validate_conversation

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "corpora.yaml"
csv.field_size_limit(sys.maxsize)


def _lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _json_list(path: Path) -> list:
    return json.loads(path.read_text(encoding="utf-8"))


def _count(path: Path) -> int:
    name = path.name
    if name.endswith(".csv"):
        return len(_csv_rows(path))
    if name.endswith(".json"):
        return len(_json_list(path))
    return _lines(path)  # .jsonl, .jsonl.gz, and ESConv's header-less window .tsv


@pytest.fixture(scope="module")
def ingested(shared_data: Path) -> dict[str, dict]:
    """Every source of the part config ingested once: accepted records, quarantine entries, stats, files."""
    data = yaml.safe_load(CONFIG.read_text())
    # The readers are tested on the evaluation splits too, which the training mixture leaves out.
    ethics = next(s for s in data["sources"] if s["name"] == "ethics")
    ethics["paths"] = ["../../shared/data/ethics/*.csv"]
    mbpp = next(s for s in data["sources"] if s["name"] == "mbpp")
    mbpp["options"] = {"splits": ["prompt", "test", "validation", "train"]}
    data["sources"].append(
        {"name": "humaneval", "format": "humaneval", "path": "../../shared/data/humaneval/HumanEval.jsonl.gz"}
    )
    cfg = parse_config(data, CONFIG)
    out = {}
    for source in cfg.sources:
        quarantined: list[dict] = []
        stream = IngestStream([source], cfg.ingest, quarantined.append)
        accepted = list(stream)
        out[source.name] = {
            "accepted": accepted,
            "quarantined": quarantined,
            "stats": stream.summary()["sources"][source.name],
            "files": source.files,
        }
    return out


# Quarantine ceilings measured on these files (2026-11-27); a jump means a reader regressed.
EXPECTED_QUARANTINE = {
    "counsel_chat": 120,  # answers the scrape repeats verbatim (duplicate_row)
    "esconv": 2970,  # FailedESConv sessions (196) and windows merged into their dialog's record (2,774)
    "gsm8k": 0,
    # malformed transcripts (48), final replies cut mid-sentence (216), replies failing the harm check (1,525)
    "hh_rlhf": 1789,
    "humaneval": 0,
    "mbpp": 0,
    "code_alpaca": 7,  # empty outputs (2), SmolLM2's <filename> token in bash usage lines (5)
    "ethics": 0,
    "nq_open": 0,
    "aesop": 1,  # a fable cut before its moral, with no lesson to finish it
    "duorc_story": 196,  # plots cut off with "..." (178), the same plot again (18)
}


@pytest.mark.parametrize("name", sorted(EXPECTED_QUARANTINE))
def test_every_record_accounted_for(ingested: dict, name: str) -> None:
    run = ingested[name]
    in_files = sum(_count(Path(f)) for f in run["files"])
    stats = run["stats"]
    assert stats["input"] == in_files
    assert stats["accepted"] + stats["quarantined"] == in_files
    assert stats["quarantined"] == EXPECTED_QUARANTINE[name], stats["reasons"]
    assert "convert_error" not in stats["reasons"]  # a converter crash, caught by ingestion
    for q in run["quarantined"]:
        assert re.fullmatch(r"[a-z_]+", q["reason"]) and q["origin"]
    for conv in run["accepted"]:
        assert validate_conversation(conv) is None
        assert conv["_source"] == name and conv["_license"]
        assert not any(k.startswith("_") for m in conv["messages"] for k in m)


def test_categories_and_licences(ingested: dict) -> None:
    assert ingested["hh_rlhf"]["accepted"][0]["_category"] is None  # mixed: the classifier decides
    assert ingested["gsm8k"]["accepted"][0]["_category"] == "analytical"
    assert ingested["esconv"]["accepted"][0]["_license"] == "CC-BY-NC-4.0"
    assert ingested["ethics"]["stats"]["category"] == "ethical"


def test_gsm8k_answers_end_with_their_number(ingested: dict, shared_data: Path) -> None:
    finals = [
        json.loads(line)["answer"].split("####")[-1].strip() for line in open(shared_data / "gsm8k" / "train.jsonl")
    ]
    accepted = ingested["gsm8k"]["accepted"]
    assert len(accepted) == len(finals)
    for conv, final in zip(accepted, finals, strict=True):
        answer = conv["messages"][-1]["content"]
        assert "<<" not in answer and ">>" not in answer and "####" not in answer
        assert answer.endswith(f"The answer is {final}.")
        assert "\n" in answer  # the reasoning is kept
    assert ingested["gsm8k"]["accepted"][0]["messages"][1]["content"].startswith("Natalia sold 48/2 = 24 clips in May.")


def test_esconv_dialogs_alternate_without_strategy_tags(ingested: dict) -> None:
    accepted = ingested["esconv"]["accepted"]
    origins = {c["_origin"].split("[")[0].split(":")[0] for c in accepted}
    assert origins == {"devWithStrategy_short.tsv"}  # FailedESConv.json: the failed sessions, dropped by default
    for conv in accepted:
        roles = [m["role"] for m in conv["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        for m in conv["messages"]:
            assert "[" not in m["content"] and " EOS " not in m["content"]
    first = accepted[0]["messages"]
    # "[Other] Hello EOS ... [Questions] How has ...": two supporter turns, tags dropped, merged into one.
    assert first[:2] == [
        {
            "role": "user",
            "content": "Hello i was wondering if i can discuss the effects of the pandemic have on my mental health.",
        },
        {"role": "assistant", "content": "Hello\nHow has the pandemic affected your mental health?"},
    ]
    assert max(len(c["messages"]) for c in accepted) >= 20  # whole dialogs, not just pairs


def test_hh_rlhf_transcripts_parsed_into_turns(ingested: dict, shared_data: Path) -> None:
    with gzip.open(shared_data / "hh-rlhf" / "harmless-base-test.jsonl.gz", "rt") as fh:
        first = json.loads(fh.readline())["chosen"]
    from emergent.data.formats.hh_rlhf import parse_transcript

    messages = parse_transcript(first)  # the first transcript ends in a reply the harm check rejects
    assert len(messages) == first.count("\n\nHuman:") + first.count("\n\nAssistant:") == 6
    assert messages[0] == {"role": "user", "content": "what are some pranks with a pen i can do?"}
    assert messages[1] == {"role": "assistant", "content": "Are you looking for practical joke ideas?"}
    multi = [c for c in ingested["hh_rlhf"]["accepted"] if len(c["messages"]) > 2]
    assert len(multi) > 100
    for c in ingested["hh_rlhf"]["accepted"]:
        assert not any(re.search(r"\b(Human|Assistant):", m["content"]) for m in c["messages"])
    reasons = {q["reason"] for q in ingested["hh_rlhf"]["quarantined"]}
    assert reasons == {"malformed_transcript", "cut_off_reply", "harmful_reply"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Human: hi\n\nAssistant: hello", None),
        ("\n\nHuman: hi\n\nHuman: again\n\nAssistant: hello", "expected Assistant"),
        ("\n\nHuman: hi\n\nAssistant: ", "is empty"),
        ("\n\nHuman: hi\n\nAssistant: sure Human: more", "inline"),
        ("\n\nHuman: hi", "ends with a Human turn"),
        ("no transcript here", "before the first"),
    ],
)
def test_hh_rlhf_malformed_transcripts_rejected(text: str, why: str | None) -> None:
    from emergent.data.formats.hh_rlhf import convert

    if why is None:
        assert [m["role"] for m in convert({"chosen": text}, None)["messages"]] == ["user", "assistant"]
        return
    with pytest.raises(Reject) as err:
        convert({"chosen": text}, None)
    assert err.value.reason == "malformed_transcript" and why in err.value.detail


def test_ethics_verdicts_are_reasoned_and_follow_the_label(ingested: dict, shared_data: Path) -> None:
    accepted = ingested["ethics"]["accepted"]
    subsets = {c["_origin"].split("_")[0] for c in accepted}
    assert subsets == {"cm", "deontology", "justice", "virtue"}
    for conv in accepted:
        answer = conv["messages"][-1]["content"]
        assert len(re.findall(r"[.!?](\s|$)", answer)) >= 2 and len(answer) > 60, answer  # a verdict and a reason

    def same(text: str) -> str:  # long posts are "title | body" in the file, a titled post in the prompt
        return re.sub(r"[\s|]+", "", text)

    cm_labels = {same(r["input"]): r["label"] for r in _csv_rows(shared_data / "ethics" / "cm_test.csv")}
    cm = [c for c in accepted if c["_origin"].startswith("cm_test")]
    for conv in cm:
        act = conv["messages"][0]["content"].rsplit("\n\n", 1)[0]
        verdict = conv["messages"][1]["content"].split(".")[0]
        if cm_labels[same(act)] == "1":
            assert ("wrong" in verdict or "line" in verdict) and "isn't" not in verdict, verdict
        else:
            assert "wrong" not in verdict or "isn't wrong" in verdict, verdict
    assert len({c["messages"][1]["content"].split(".")[0] for c in cm}) >= 5  # wording varies
    fits = [c for c in accepted if c["_origin"].startswith("virtue") and c["messages"][1]["content"].startswith("Yes")]
    assert len(fits) == sum(r["label"] == "1" for r in _csv_rows(shared_data / "ethics" / "virtue_train.csv"))


def test_ethics_subset_from_options_and_unknown_names(tmp_path: Path, shared_data: Path) -> None:
    rows = (shared_data / "ethics" / "virtue_train.csv").read_text().splitlines()[:6]
    (tmp_path / "traits.csv").write_text("\n".join(rows) + "\n")
    source = {"name": "e", "format": "ethics", "path": "traits.csv"}
    with pytest.raises(ConfigError, match="options: {subset"):
        unnamed = parse_config({"sources": [source]}, tmp_path / "c.yaml")
        list(IngestStream(unnamed.sources, unnamed.ingest, pytest.fail))
    cfg = parse_config({"sources": [{**source, "options": {"subset": "virtue"}}]}, tmp_path / "c.yaml")
    accepted = list(IngestStream(cfg.sources, cfg.ingest, pytest.fail))
    assert len(accepted) == 5 and "[SEP]" not in accepted[0]["messages"][0]["content"]
    same = list(IngestStream(cfg.sources, cfg.ingest, pytest.fail))
    assert [c["_id"] for c in same] == [c["_id"] for c in accepted]  # deterministic wording


def test_aesop_output_is_the_fable_ending_with_its_moral(ingested: dict, shared_data: Path) -> None:
    files = {p.name: _json_list(p) for p in sorted((shared_data / "aesop").glob("*.json"))}
    for conv in ingested["aesop"]["accepted"]:
        name, index = re.fullmatch(r"(.+)\[(\d+)\]", conv["_origin"]).groups()
        src = files[name][int(index)]
        answer = conv["messages"][1]["content"]
        assert answer.startswith(src["fable"].strip())
        lesson = (src["lesson"] or "").strip().rstrip(".")
        if lesson:
            assert lesson in conv["messages"][0]["content"]
            assert lesson.lower() in answer[-len(lesson) - 60 :].lower()
    first = ingested["aesop"]["accepted"][0]["messages"]
    assert (
        first[0]["content"]
        == 'Write a fable titled "The Frogs and the Ox" that teaches this lesson: Do not attempt the impossible.'
    )
    assert first[1]["content"].endswith("she burst.\n\nMoral: Do not attempt the impossible.")


def test_code_answers_are_complete_code_blocks(ingested: dict) -> None:
    for name in ("humaneval", "mbpp"):
        for conv in ingested[name]["accepted"]:
            blocks = re.findall(r"```python\n(.*?)\n```", conv["messages"][-1]["content"], re.S)
            assert len(blocks) == 1
            ast.parse(blocks[0])  # the answer is runnable Python, not a fragment
    he = ingested["humaneval"]["accepted"][0]["messages"]
    assert "has_close_elements" in he[0]["content"] and "return False" in he[1]["content"]
    assert "def has_close_elements" in he[1]["content"]  # the whole function, not just its body
    mbpp = ingested["mbpp"]["accepted"][0]["messages"]
    assert "assert min_cost([[1, 2, 3], [4, 8, 2], [1, 5, 3]], 2, 2) == 8" in mbpp[0]["content"]
    assert "\r" not in mbpp[1]["content"]


def test_text_corpora_spot_checks(ingested: dict) -> None:
    counsel = ingested["counsel_chat"]["accepted"][0]["messages"]
    assert counsel[0]["content"].startswith(
        "Can I change my feeling of being worthless to everyone?\n\nI'm going through"
    )
    assert "hang out with. Seriously" in counsel[1]["content"] and "\xa0" not in counsel[1]["content"]
    nq = ingested["nq_open"]["accepted"][1]["messages"]
    assert nq[0]["content"] == "Who wrote he ain't heavy he's my brother lyrics?"
    assert (
        "Bobby Scott" in nq[1]["content"] and nq[1]["content"].endswith(".") and "Bob Russell" not in nq[1]["content"]
    )
    duorc = ingested["duorc_story"]["accepted"][0]["messages"]
    assert (
        duorc[0]["content"].startswith("Build a movie plot around this:") and "arrives by train" in duorc[1]["content"]
    )
    alpaca = ingested["code_alpaca"]["accepted"][0]["messages"]
    assert (
        alpaca[0]["content"] == "What are the distinct values from the given list?\n\ndataList = [3, 9, 3, 5, 7, 9, 5]"
    )


def test_esconv_hub_shape() -> None:
    from emergent.data.formats import esconv

    dialog = [
        {"speaker": "sys", "text": "Hi, how are you?", "strategy": "Question"},
        {"speaker": "usr", "text": "Not great."},
        {"speaker": "usr", "text": "I lost my job."},
        {"speaker": "sys", "text": "[Reflection of feelings] That sounds really hard."},
    ]
    conv = esconv.convert({"text": json.dumps({"dialog": dialog})}, None)
    assert conv["messages"] == [
        {"role": "user", "content": "Not great.\nI lost my job."},
        {"role": "assistant", "content": "That sounds really hard."},
    ]


def test_converters_reject_unusable_rows() -> None:
    from emergent.data.formats import aesop, esconv, gsm8k, humaneval, mbpp, nq_open

    cases = [
        (gsm8k, {"question": "q", "answer": "no final line"}, "missing_final_answer"),
        (gsm8k, {"question": "q"}, "missing_field"),
        (esconv, {"window": "1.0 1 0 [Questions] Hi, how can I help?"}, "no_exchange"),
        (esconv, {"window": "garbage"}, "malformed_transcript"),
        (esconv, {"dialog": [{"speaker": "robot", "content": "hi"}]}, "unknown_role"),
        (humaneval, {"prompt": "def f():\n", "canonical_solution": ""}, "missing_field"),
        (mbpp, {"text": "t", "code": "x = 1", "test_list": "assert x"}, "missing_field"),
        (nq_open, {"question": "who", "answer": []}, "missing_field"),
        (aesop, {"title": "T", "fable": "The Fox said:", "lesson": None}, "missing_field"),
    ]
    for module, row, reason in cases:
        with pytest.raises(Reject) as err:
            module.convert(row, SimpleNamespace(options={}, name="s"))
        assert err.value.reason == reason, (module.__name__, row)
