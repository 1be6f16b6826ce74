"""IBM Debater records are asked the way people ask: plain questions in several phrasings, several
records per topic with disjoint arguments (`rows_per_topic`), never the same request twice."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from emergent.config import parse_config
from emergent.data.formats import ibm_debater
from emergent.data.ingest import IngestStream
from emergent.errors import ConfigError

ARGQ = "ibm-debater/arg_quality_rank_30k.zip"


def _ingest(shared_data: Path, options: dict, path: str = ARGQ, **extra: object) -> tuple[list, dict]:
    source = {"name": "argq", "format": "ibm_debater", "paths": [str(shared_data / path)], "options": options}
    cfg = parse_config({"sources": [source | extra]}, shared_data / "config.yaml")
    quarantined: list[dict] = []
    stream = IngestStream(cfg.sources, cfg.ingest, quarantined.append)
    accepted = list(stream)
    return accepted, stream.stats["argq"].as_dict()


@pytest.mark.parametrize(
    ("motion", "asked"),
    [
        ("We should abandon marriage", "Should we abandon marriage?"),
        ("Assisted suicide should be a criminal offence", "Should assisted suicide be a criminal offence?"),
        ("Social media brings more harm than good", "Does social media bring more harm than good?"),
        ("Intelligence tests bring more harm than good", "Do intelligence tests bring more harm than good?"),
        ("The USA is a good country to live in", "Is the USA a good country to live in?"),
        ("Cats rule", 'What do you make of the claim "Cats rule"?'),
    ],
)
def test_a_motion_becomes_the_question_a_person_asks(motion: str, asked: str) -> None:
    assert ibm_debater.question(motion) == asked


def test_records_per_topic_take_the_next_best_arguments_and_differ_in_request(shared_data: Path) -> None:
    accepted, stats = _ingest(shared_data, {"per_side": 2, "rows_per_topic": 4})
    assert stats["input"] == stats["accepted"] > 71 * 3
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for record in accepted:
        by_topic[record["_origin"].split("#topic=", 1)[1].split("#part=")[0]].append(record)
    assert len(by_topic) == 71

    with zipfile.ZipFile(shared_data / ARGQ) as zf:
        rows = list(csv.DictReader(io.TextIOWrapper(zf.open("arg_quality_rank_30k.csv"), encoding="utf-8")))
    topic = "We should abandon marriage"
    pro = [r for r in rows if r["topic"] == topic and r["stance_WA"] == "1"]
    pro.sort(key=lambda r: -float(r["WA"]))  # stable: ties keep file order, as the reader does
    records = by_topic[topic]
    assert len(records) == 4
    requests = [r["messages"][0]["content"] for r in records]
    assert len(set(requests)) == 4, requests
    # Record k holds the pro arguments ranked 2k and 2k+1, so nothing is said twice across the topic.
    for k, record in enumerate(records):
        reply = record["messages"][1]["content"]
        for r in pro[2 * k : 2 * k + 2]:
            assert ibm_debater.clean(r["argument"])[:40] in reply, (k, r["argument"])
        assert ibm_debater.clean(pro[2 * k + 2]["argument"])[:40] not in reply

    # Across the source, most requests are plain questions, not the dataset's "Debate topic:" frame, and
    # every reply still puts both sides.
    plain = [r for r in accepted if not r["messages"][0]["content"].startswith("Debate topic:")]
    assert len(plain) > 0.8 * len(accepted)
    assert all("?" in r["messages"][0]["content"] for r in accepted)
    for record in accepted:
        reply = record["messages"][1]["content"]
        assert ("Arguments against:" in reply) or ("Those against answer" in reply), reply


def test_default_is_one_record_per_topic(shared_data: Path) -> None:
    accepted, stats = _ingest(shared_data, {})
    assert stats["input"] == 71 and len(accepted) == 71
    assert all("#part=" not in r["_origin"] for r in accepted)


def test_bad_options_are_refused_with_the_reason(shared_data: Path) -> None:
    with pytest.raises(ConfigError, match="only 10 phrasings"):
        _ingest(shared_data, {"rows_per_topic": 11})
    with pytest.raises(ConfigError, match="rows_per_topic must be a positive integer"):
        _ingest(shared_data, {"rows_per_topic": 0})
    with pytest.raises(ConfigError, match=r"no option\(s\) \[.rows_per_topc.\]; it takes per_side, rows_per_topic"):
        _ingest(shared_data, {"rows_per_topc": 2})


def test_key_point_records_are_asked_in_several_ways(shared_data: Path) -> None:
    accepted, _ = _ingest(shared_data, {}, path="ibm-debater/ArgKP-2021.zip", license="CDLA-Sharing-1.0")
    openings = {r["messages"][0]["content"].split(" ", 2)[0] for r in accepted}
    assert len(openings) >= 3, openings
    assert all("would answer with points such as" in r["messages"][1]["content"] for r in accepted)
