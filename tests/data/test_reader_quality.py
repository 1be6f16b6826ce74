"""Reader fixes of issue 16, each checked on the real rows of ../shared/data.

FailedESConv dropped (or kept only where rated well), ESConv windows joined into dialogs, hh-rlhf
kept only where the chosen reply passes the harm check (measured here on hand-labelled replies),
duorc cleaned, counsel-chat joins repaired, ETHICS answers varied, code fenced, small fixes.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from emergent.config import parse_config
from emergent.data.formats import code_alpaca, counsel_chat, hh_rlhf
from emergent.data.guard import SPECIAL_TOKEN
from emergent.data.ingest import IngestStream
from emergent.data.store import read_conversations, write_conversations
from emergent.errors import ConfigError

LABELS = Path(__file__).with_name("hh_rlhf_harm_labels.jsonl")
csv.field_size_limit(sys.maxsize)


def _ingest(shared_data: Path, name: str, fmt: str, paths: list[str], **extra: object) -> tuple[list, dict, list]:
    source = {"name": name, "format": fmt, "paths": [str(shared_data / p) for p in paths], **extra}
    cfg = parse_config({"sources": [source]}, shared_data / "config.yaml")
    quarantined: list[dict] = []
    stream = IngestStream(cfg.sources, cfg.ingest, quarantined.append)
    accepted = list(stream)
    stats = stream.stats[name].as_dict()
    assert stats["input"] == stats["accepted"] + stats["quarantined"]
    return accepted, stats, quarantined


# --- ESConv ---------------------------------------------------------------------------------------


def test_failed_esconv_sessions_are_dropped_by_default(shared_data: Path) -> None:
    accepted, stats, quarantined = _ingest(shared_data, "esconv", "esconv", ["esconv/FailedESConv.json"])
    assert accepted == [] and stats["reasons"] == {"failed_session": 196}
    assert all(q["origin"].startswith("FailedESConv.json[") for q in quarantined)


def test_failed_esconv_keeps_well_rated_sessions_when_asked(shared_data: Path) -> None:
    sessions = json.loads((shared_data / "esconv/FailedESConv.json").read_text())
    accepted, stats, _ = _ingest(
        shared_data, "esconv", "esconv", ["esconv/FailedESConv.json"], options={"failed_min_rating": 4}
    )
    good = [
        s
        for s in sessions
        if all(s["survey_score"]["seeker"].get(k, "0").isdigit() for k in ("empathy", "relevance"))
        and min(int(s["survey_score"]["seeker"].get(k, 0)) for k in ("empathy", "relevance")) >= 4
    ]
    assert len(accepted) == len(good) == 33
    assert stats["reasons"] == {"failed_session_low_rating": 109, "failed_session_unrated": 54}
    with pytest.raises(ConfigError, match="failed_min_rating"):
        _ingest(shared_data, "esconv", "esconv", ["esconv/FailedESConv.json"], options={"failed_min_rating": 9})


def test_esconv_windows_become_one_record_per_dialog(shared_data: Path) -> None:
    accepted, stats, quarantined = _ingest(shared_data, "esconv", "esconv", ["esconv/devWithStrategy_short.tsv"])
    assert stats["input"] == 2985 and stats["reasons"] == {"merged_window": 2774} and len(accepted) == 211
    first = accepted[0]
    assert re.fullmatch(r"devWithStrategy_short\.tsv:1-\d+", first["_origin"])
    assert first["messages"][0]["content"].startswith("Hello i was wondering if i can discuss")
    assert "How has the pandemic affected your mental health?" in first["messages"][1]["content"]
    assert len(first["messages"]) >= 10  # the whole dialog, not one window
    merged = [q for q in quarantined if q["reason"] == "merged_window"]
    assert all(first["_origin"] in q["raw"] for q in merged[:5])
    # Each supporter turn is trained on once, not once per window holding it.
    # (The windows held 4,796 supporter turns, 2,745 distinct.)
    lines = [
        line for c in accepted for m in c["messages"] if m["role"] == "assistant" for line in m["content"].split("\n")
    ]
    assert len(set(lines)) / len(lines) > 0.97, Counter(lines).most_common(3)
    for conv in accepted:
        assert not any("[" in m["content"] or " EOS " in m["content"] for m in conv["messages"])


# --- hh-rlhf ----------------------------------------------------------------------------------------


def _labels() -> list[dict]:
    return [json.loads(line) for line in LABELS.read_text().splitlines()]


def test_harm_labels_are_a_real_labelled_set(shared_data: Path) -> None:
    rows = [json.loads(line) for line in gzip.open(shared_data / "hh-rlhf/harmless-base-test.jsonl.gz", "rt")]
    labels = _labels()
    assert len(labels) >= 150 and {lab["label"] for lab in labels} == {"harmful", "acceptable"}
    for lab in labels:
        final = hh_rlhf.parse_transcript(rows[lab["line"] - 1]["chosen"])[-1]["content"]
        assert final.startswith(lab["reply_start"]) and lab["reason"], lab


def _scores(shared_data: Path, strict: bool, split: str | None = None) -> tuple[float, float]:
    rows = [json.loads(line) for line in gzip.open(shared_data / "hh-rlhf/harmless-base-test.jsonl.gz", "rt")]
    tp = fp = fn = 0
    for lab in _labels():
        if split and lab["split"] != split:
            continue
        messages = hh_rlhf.parse_transcript(rows[lab["line"] - 1]["chosen"])
        asked = " ".join(m["content"] for m in messages if m["role"] == "user")
        flagged = hh_rlhf.harmful(messages[-1]["content"], asked, strict) is not None
        gold = lab["label"] == "harmful"
        tp, fp, fn = tp + (flagged and gold), fp + (flagged and not gold), fn + (gold and not flagged)
    return tp / (tp + fp), tp / (tp + fn)


def test_harm_check_precision_and_recall(shared_data: Path) -> None:
    """Floors under the measured values (notes: all 230 strict P 0.37 R 0.83; held-out 60 strict R 0.76)."""
    precision, recall = _scores(shared_data, strict=True)
    assert recall >= 0.80 and precision >= 0.35
    assert _scores(shared_data, strict=True, split="heldout")[1] >= 0.75
    lenient_precision, lenient_recall = _scores(shared_data, strict=False)
    assert lenient_precision >= 0.45 and lenient_recall >= 0.60


def test_hh_rlhf_keeps_only_replies_that_pass_with_the_pair_beside_them(shared_data: Path, tmp_path: Path) -> None:
    accepted, stats, quarantined = _ingest(shared_data, "hh", "hh_rlhf", ["hh-rlhf/harmless-base-test.jsonl.gz"])
    assert stats["reasons"]["cut_off_reply"] == 216  # the count of replies ending mid-sentence
    assert stats["reasons"]["harmful_reply"] > 1000 and 400 <= len(accepted) <= 700
    harmful = {q["origin"] for q in quarantined if q["reason"] == "harmful_reply"}
    assert "harmless-base-test.jsonl.gz:645" in harmful  # "Don't shoot any security guards." (the example)
    # 4 rejected transcripts hold an inline "Human:" label: those records carry no pair.
    assert sum("_chosen" in c for c in accepted) == len(accepted) - 4
    for conv in accepted:
        final = conv["messages"][-1]["content"]
        assert conv.get("_chosen", final) == final and conv.get("_rejected", "") != final
        assert not hh_rlhf.cut_off(final)
    write_conversations(accepted[:50], tmp_path / "hh.parquet")
    back = list(read_conversations(tmp_path / "hh.parquet"))
    pairs = [(c.get("_chosen"), c.get("_rejected")) for c in accepted[:50]]
    assert [(c["_chosen"], c["_rejected"]) for c in back] == pairs
    with pytest.raises(ConfigError, match="harm_check"):
        _ingest(shared_data, "hh", "hh_rlhf", ["hh-rlhf/harmless-base-test.jsonl.gz"], options={"harm_check": "no"})
    lenient, _, _ = _ingest(
        shared_data, "hh", "hh_rlhf", ["hh-rlhf/harmless-base-test.jsonl.gz"], options={"harm_check": "lenient"}
    )
    assert len(lenient) > len(accepted)


# --- duorc_story, counsel-chat ----------------------------------------------------------------------


def test_duorc_plots_cleaned_deduplicated_and_cut_plots_dropped(shared_data: Path) -> None:
    accepted, stats, _ = _ingest(
        shared_data, "duorc", "duorc_story", ["self-instruct/duorc_SelfRC_build_story_around_qa.jsonl"]
    )
    assert stats["reasons"] == {"cut_off_plot": 178, "duplicate_plot": 18} and len(accepted) == 3
    plots = [c["messages"][1]["content"] for c in accepted]
    assert len(set(plots)) == 3
    for plot in plots:
        assert not SPECIAL_TOKEN.search(plot) and "Ã" not in plot and not plot.endswith("...")
        assert "plot summary may be too long" not in plot and "(the-movie-guy)" not in plot
    assert plots[1].endswith("B and his friends have accomplished.")


def test_counsel_chat_joins_repaired(shared_data: Path) -> None:
    answers = [r["answerText"] for r in csv.DictReader(open(shared_data / "counsel-chat/20200325_counsel_chat.csv"))]
    fixed = [counsel_chat.repair_joins(a) for a in answers]
    joined = re.compile(r"[a-z][.!?][)\"”’]+[A-Z]|[a-z][:;,][A-Z][a-z]")
    assert sum(len(joined.findall(a)) for a in answers) > 150
    assert sum(len(joined.findall(a)) for a in fixed) == 0
    text = "\n".join(fixed)
    for repaired in (
        "their office.) There are",
        "rest and sleep\nMental: how",
        'having. "Crazy" has',
        "Warm regards,\nShawn",
    ):
        assert repaired in text
    assert "https://www.youtube.com/watch?v=nmJDkzDMllc" in text  # links are left alone


# --- ETHICS -----------------------------------------------------------------------------------------


def test_ethics_answers_engage_with_the_case(shared_data: Path) -> None:
    files = ["ethics/cm_test.csv", "ethics/deontology_train.csv", "ethics/justice_train.csv", "ethics/virtue_train.csv"]
    accepted, _, _ = _ingest(shared_data, "ethics", "ethics", files)
    by_file: dict[str, list[str]] = {}
    for conv in accepted:
        by_file.setdefault(conv["_origin"].split(".csv")[0], []).append(conv["messages"][1]["content"])
    rng = random.Random(0)
    distinct = {name: len(set(rng.sample(answers, 300))) for name, answers in by_file.items()}
    # Before: 54 / 26 / 18 / ~273 distinct answers per 300 rows.
    assert distinct["cm_test"] >= 150 and min(distinct[k] for k in distinct if k != "cm_test") >= 270, distinct
    justice = next(c for c in accepted if "Vision Boards" in c["messages"][0]["content"])["messages"][1]["content"]
    assert justice.startswith("I don't think so. That you put a lot of effort into making those Vision Boards")
    assert "doesn't mean you deserve to enjoy a nice big mansion" in justice


# --- code and small fixes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "output", "language"),
    [
        (
            "Write a JavaScript code to get the length of an array.",
            "let arr = [1, 2, 3];\nlet n = arr.length;",
            "javascript",
        ),
        ("Write a single line of code to convert this list to a set.", "myset = set(my_list)", "python"),
        ("Write a C function to reverse a string.", "#include <stdio.h>\nvoid r(char *s) {}", "c"),
        ("List files.", "#!/bin/bash\n\nls -lSh", "bash"),
        ("Find the biggest element in a given array of integers.", "7", None),
        ("Explain what an API is?", "An API (Application Programming Interface) is a software utility.", None),
        ("Fix it.", "```python\nx = 1\n```", None),
    ],
)
def test_code_alpaca_fences_code(instruction: str, output: str, language: str | None) -> None:
    assert code_alpaca.code_language(instruction, output) == language


def test_code_alpaca_real_answers_are_fenced(shared_data: Path) -> None:
    accepted, _, _ = _ingest(shared_data, "ca", "code_alpaca", ["codealpaca/code_alpaca_2k.json"])
    fenced = [c for c in accepted if c["messages"][-1]["content"].startswith("```")]
    assert len(fenced) / len(accepted) > 0.8
    js = next(
        c for c in accepted if c["messages"][0]["content"] == "Write a JavaScript code to get the length of an array."
    )
    assert js["messages"][-1]["content"].startswith("```javascript\n")


def test_mbpp_broken_link_and_ibm_debater_contractions(shared_data: Path) -> None:
    from emergent.data.formats import ibm_debater, mbpp

    row = json.loads((shared_data / "mbpp/mbpp.jsonl").read_text().splitlines()[117])
    source = SimpleNamespace(name="mbpp", options={"splits": ["prompt", "test", "validation", "train"]})
    assert mbpp.convert(row, source)["messages"][0]["content"].startswith("Write a function to convert a string")
    assert ibm_debater.clean("people dont know what i think, i'm sure") == "People don't know what I think, I'm sure"
    accepted, _, _ = _ingest(
        shared_data, "kp", "ibm_debater", ["ibm-debater/ArgKP-2021.zip"], license="CDLA-Sharing-1.0"
    )
    answers = " ".join(c["messages"][1]["content"] for c in accepted)
    assert not re.search(r"\b(dont|cant|wont|arent)\b|(?<![\w'.])i(?![\w'])", answers)
