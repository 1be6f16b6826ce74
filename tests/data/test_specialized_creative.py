"""The specialized and creative readers (PubMedQA, MedQuAD, GPTeacher role-play) on the real corpora of
../shared/data and on the bundled sample.

Expected counts are taken here from the files with the standard library (json, tarfile, ElementTree),
independently of the readers, so a reader that drops, merges or invents rows fails.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from emergent.config import load_config
from emergent.data.formats.gpteacher_roleplay import spoken
from emergent.data.formats.medquad import question_text, readable
from emergent.data.formats.pubmedqa import FIRST_PERSON, reply
from emergent.data.ingest import IngestStream
from emergent.schema import validate_conversation

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT / "configs" / "corpora.yaml"
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SAMPLE = ROOT / "src" / "emergent" / "data" / "sample"
NEW = ("pubmedqa", "medquad", "gpteacher_roleplay")


def ingest(config: Path, names: tuple[str, ...]) -> dict[str, dict]:
    cfg = load_config(config)
    out = {}
    for source in cfg.sources:
        if source.name in names:
            quarantined: list[dict] = []
            stream = IngestStream([source], cfg.ingest, quarantined.append)
            records = list(stream)
            out[source.name] = {"records": records, "stats": stream.stats[source.name].as_dict(), "q": quarantined}
    assert set(out) == set(names), f"{config.name} lacks sources {set(names) - set(out)}"
    return out


@pytest.fixture(scope="module")
def real(shared_data: Path) -> dict[str, dict]:
    return ingest(CORPORA, NEW)


def medquad_pairs(tarball: Path) -> tuple[list[dict], int]:
    """Every QAPair in the tarball (focus, question, answer) and the number of documents without one."""
    pairs, empty = [], 0
    with tarfile.open(tarball) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".xml"):
                root = ET.fromstring(tar.extractfile(member).read())
                found = root.findall("./QAPairs/QAPair")
                empty += not found
                for qa in found:
                    pairs.append(
                        {
                            "focus": root.findtext("Focus") or "",
                            "question": qa.findtext("Question"),
                            "answer": qa.findtext("Answer"),
                        }
                    )
    return pairs, empty


def assert_valid(run: dict, name: str) -> None:
    for conv in run["records"]:
        assert validate_conversation(conv) is None
        assert conv["_source"] == name and conv["_license"] and conv["_category"]
        assert [m["role"] for m in conv["messages"]] == ["user", "assistant"]
    assert "convert_error" not in run["stats"]["reasons"]


# ---- PubMedQA ---------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_pubmedqa_every_question_answered_from_its_abstract(real: dict, shared_data: Path) -> None:
    raw = json.loads((shared_data / "pubmedqa/ori_pqal.json").read_text())
    run = real["pubmedqa"]
    assert run["stats"]["input"] == len(raw) == 1000
    assert run["stats"]["reasons"] == {}
    assert_valid(run, "pubmedqa")
    by_id = {c["_origin"].split("#")[1]: c["messages"] for c in run["records"]}
    assert set(by_id) == set(raw)
    leads = Counter(m[1]["content"].split("\n\n")[0] for m in by_id.values())
    decisions = Counter(v["final_decision"] for v in raw.values())
    assert leads == {
        "Yes, according to this study.": decisions["yes"],
        "No, according to this study.": decisions["no"],
        "This study does not give a clear yes or no.": decisions["maybe"],
    }
    assert decisions == {"yes": 552, "no": 338, "maybe": 110}
    quoted = 0
    for pmid, (ask, answer) in by_id.items():
        row = raw[pmid]
        assert ask["content"].startswith(row["QUESTION"].strip() + "\n\nStudy abstract:\n\n")
        for text in row["CONTEXTS"]:
            assert text.strip() in ask["content"]  # the whole abstract reaches the asker's turn
        assert row["LONG_ANSWER"].strip() in answer["content"]
        sections = ask["content"].split("\n\nStudy abstract:\n\n", 1)[1].split("\n\n")
        # Each section under its label in sentence case ("Materials and methods:", not "MATERIALS AND METHODS:").
        assert [x.split(": ", 1)[0] for x in sections] == [label.capitalize() for label in row["LABELS"]]
        quoted += answer["content"].count('The authors conclude: "')
    # Conclusions in the authors' first person are attributed, the others read as the answer itself.
    assert quoted == sum(bool(FIRST_PERSON.search(v["LONG_ANSWER"])) for v in raw.values()) == 181
    first = by_id["21645374"]
    assert "Background: Programmed cell death (PCD)" in first[0]["content"]
    # "... we have shown the feasibility ...": the authors' words, quoted.
    assert first[1]["content"].startswith(
        'Yes, according to this study.\n\nThe authors conclude: "Results depicted mitochondrial dynamics'
    )


def test_pubmedqa_first_person_is_the_authors_not_the_country() -> None:
    assert reply("no", "Our results showed no effect.") == (
        'No, according to this study.\n\nThe authors conclude: "Our results showed no effect."'
    )
    assert reply("yes", "Rates in the US fell.") == "Yes, according to this study.\n\nRates in the US fell."


# ---- MedQuAD ----------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_medquad_every_pair_read_and_accounted_for(real: dict, shared_data: Path) -> None:
    pairs, empty = medquad_pairs(shared_data / "medquad/medquad_answered_subset.tar.gz")
    run = real["medquad"]
    assert (len(pairs), empty) == (4607, 10)
    assert run["stats"]["input"] == len(pairs) + empty
    # Documents with no QAPair, and four templates whose focus slot the source left empty.
    assert run["stats"]["reasons"] == {"no_qa_pairs": 10, "question_without_focus": 4}
    empty_focus = Counter(q["detail"].split(": ", 1)[1] for q in run["q"] if q["reason"] == "question_without_focus")
    assert empty_focus == {"'What is (are)?'": 2, "'Who is at risk for?'": 1, "'How to prevent?'": 1}
    assert_valid(run, "medquad")


@pytest.mark.shared_data
def test_medquad_answers_read_as_text(real: dict) -> None:
    answers = {c["_origin"].split("!")[1]: c["messages"][1]["content"] for c in real["medquad"]["records"]}
    for text in answers.values():
        assert "  " not in text and "\t" not in text  # the page's indentation and seams are gone
        assert all(line == line.strip() for line in text.split("\n"))
        assert not re.search(r"\S {1,}- {2,}", text)  # no flattened " -  item" runs left
    assert answers["1_CancerGov_QA/0000001_1.xml#1"].startswith(
        "Key Points\n\n- Adult acute lymphoblastic leukemia (ALL) is a type of cancer in which the bone marrow"
        " makes too many lymphocytes (a type of white blood cell).\n- Leukemia may affect red blood cells"
    )
    alcohol = answers["7_SeniorHealth_QA/0000002.xml#18"]
    # The list, once: the page's flattened copy of it after the list is gone.
    assert alcohol.count("reduced inhibitions") == 1
    assert "can include\n- reduced inhibitions\n- slurred speech\n" in alcohol
    assert alcohol.endswith("- death.\n\nLearn more about the risks of alcohol overdose.")


@pytest.mark.shared_data
def test_medquad_templates_stay_distinct_by_focus(real: dict, shared_data: Path) -> None:
    pairs, _ = medquad_pairs(shared_data / "medquad/medquad_answered_subset.tar.gz")
    template = "What are the treatments for "
    raw = {" ".join(p["question"].split()) for p in pairs if p["question"].startswith(template)}
    asked = [c["messages"][0]["content"] for c in real["medquad"]["records"]]
    ours = {q for q in asked if q.startswith(template)}
    assert len(ours) == len(raw) > 500  # one question per focus, none merged
    assert Counter(asked)["What is (are) Stroke?"] == 12  # the same question from different pages, all kept


def test_medquad_layout_rules_on_planted_text() -> None:
    assert readable("Try - sunlight    - aloe    - cayenne. sunlight aloe cayenne. Ask first.") == (
        "Try\n- sunlight\n- aloe\n- cayenne.\n\nAsk first."
    )
    # A single-spaced dash is punctuation; one item is no evidence of a flattened copy.
    assert readable("Call (8:00 - 4:30 ET).") == "Call (8:00 - 4:30 ET)."
    assert readable("Options:\n   - Surgery\n   Surgery removes it.") == "Options:\n- Surgery\n\nSurgery removes it."
    # Items the page printed twice, and a list whose seams were lost (". - " twice or more).
    assert readable("Help: - Aides come. They are paid. Aides come. They are paid. - Meals come. Meals come.") == (
        "Help:\n- Aides come. They are paid.\n- Meals come. Meals come."
    )
    assert readable("Signs include: - fever  - cough. fever cough. - Tests show it.  - Rest helps.") == (
        "Signs include:\n- fever\n- cough.\n- Tests show it.\n- Rest helps."
    )
    assert question_text("Who is at risk for Anthrax? ?") == "Who is at risk for Anthrax?"
    assert question_text("what is botulism?") == "What is botulism?"


# ---- GPTeacher role-play ----------------------------------------------------------------------------


@pytest.mark.shared_data
def test_gpteacher_roleplay_in_character_replies(real: dict, shared_data: Path) -> None:
    raw = json.loads((shared_data / "gpteacher-roleplay/roleplay-simple-deduped-roleplay-instruct.json").read_text())
    run = real["gpteacher_roleplay"]
    assert run["stats"]["input"] == len(raw) == 1923
    assert run["stats"]["reasons"] == {"sound_effects_only": 1}
    assert "Grrrrowwwrrr" in run["q"][0]["raw"]
    assert_valid(run, "gpteacher_roleplay")
    kept = [r for r in raw if "Grrrrowwwrrr" not in r["response"]]
    for conv, row in zip(run["records"], kept, strict=True):
        ask, answer = (m["content"] for m in conv["messages"])
        expected = row["instruction"].strip() + (f"\n\n{row['input'].strip()}" if row["input"].strip() else "")
        assert ask == expected and answer == row["response"].strip()
    with_input = sum("\n\n" in c["messages"][0]["content"] for c in run["records"])
    assert with_input == sum(bool(r["input"].strip()) for r in kept) == 442  # 443 less the sound effects


def test_gpteacher_stage_directions_are_not_speech() -> None:
    assert spoken("*Grrrrowwwrrr wrrhwrwwhw wraaargh*") == ""
    assert spoken("*bows* Welcome, traveller.") == "Welcome, traveller."


# ---- The bundled sample -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> dict[str, dict]:
    return ingest(QUICKSTART, (*NEW, "topical_chat"))


def test_bundled_sample_reads_with_the_same_readers(sample: dict) -> None:
    counts = {name: (run["stats"]["input"], run["stats"]["accepted"]) for name, run in sample.items()}
    # As SOURCES.md says: 30 questions, 62 pairs from 14 pages, 100 role-plays + the sound-effects row, 250 chats.
    assert counts == {
        "pubmedqa": (30, 30),
        "medquad": (62, 62),
        "gpteacher_roleplay": (101, 100),
        "topical_chat": (250, 250),
    }
    assert sample["gpteacher_roleplay"]["stats"]["reasons"] == {"sound_effects_only": 1}
    for name in NEW:
        assert_valid(sample[name], name)
    sites = {c["_origin"].split("!")[1].split("/")[0] for c in sample["medquad"]["records"]}
    assert len(sites) == 5  # NHLBI's pages all hold an answer too long for the quickstart window
    assert Counter(c["messages"][1]["content"].split("\n\n")[0] for c in sample["pubmedqa"]["records"]) == {
        "Yes, according to this study.": 18,
        "No, according to this study.": 9,
        "This study does not give a clear yes or no.": 3,
    }


@pytest.mark.shared_data
def test_bundled_sample_is_a_subset_of_the_real_corpora(shared_data: Path) -> None:
    full = json.loads((shared_data / "pubmedqa/ori_pqal.json").read_text())
    part = json.loads((SAMPLE / "pubmedqa/ori_pqal.json").read_text())
    assert all(full[k] == v for k, v in part.items())
    roleplay = json.loads(
        (shared_data / "gpteacher-roleplay/roleplay-simple-deduped-roleplay-instruct.json").read_text()
    )
    assert all(r in roleplay for r in json.loads((SAMPLE / "gpteacher-roleplay/roleplay.json").read_text()))
    chats = json.loads((shared_data / "topical-chat/valid_freq.json").read_text())
    for key, chat in json.loads(gzip.decompress((SAMPLE / "topical-chat/valid_freq.json.gz").read_bytes())).items():
        turns = [{"message": t["message"], "agent": t["agent"]} for t in chats[key]["content"]]
        assert chat["content"] == turns and chat["article_url"] == chats[key]["article_url"]
    with tarfile.open(shared_data / "medquad/medquad_answered_subset.tar.gz") as tar:
        originals = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    with tarfile.open(SAMPLE / "medquad/medquad_sample.tar.gz") as tar:
        for m in tar:
            assert tar.extractfile(m).read() == originals[m.name], m.name  # whole pages, byte for byte


def test_sources_md_names_every_bundled_folder() -> None:
    text = (SAMPLE / "SOURCES.md").read_text()
    for folder in sorted(p.name for p in SAMPLE.iterdir() if p.is_dir()):
        assert f"| {folder} |" in text, f"{folder} is bundled but SOURCES.md does not record its origin and licence"
    licences = [line.split("|")[3] for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert not any(re.search(r"\bNC\b", lic) for lic in licences), "a research-only (NC) corpus is bundled"


@pytest.mark.slow
def test_quickstart_mixture_has_no_empty_bucket(tmp_path: Path) -> None:
    """The bundled sample through the quickstart's own build: every bucket filled, the thin ones in range."""
    from emergent.curate.build import build
    from emergent.report.html import write_report

    cfg = load_config(QUICKSTART)
    manifest = build(cfg, tmp_path / "run" / "data", show_progress=False)
    comp = manifest["composition"]
    assert all(c["count"] > 0 for c in comp.values()), {b: c["count"] for b, c in comp.items()}
    for bucket in ("specialized", "creative"):
        lo, hi = comp[bucket]["target"]
        assert lo <= comp[bucket]["share"] <= hi, (bucket, comp[bucket])
    html = write_report(tmp_path / "run").read_text()
    for source in manifest["sources"]:
        assert f'id="examples-{source}"' in html
    # No text the model trains on carries a tokenizer's special-token string (the ingest guard).
    from emergent.data.guard import SPECIAL_TOKEN
    from emergent.data.store import read_conversations

    convs = list(read_conversations(tmp_path / "run" / "data" / "conversations"))
    texts = [m.get("content") or "" for c in convs for m in c["messages"]]
    texts += [t["function"]["arguments"] for c in convs for m in c["messages"] for t in m.get("tool_calls") or []]
    assert len(convs) == sum(c["count"] for c in comp.values())
    assert [t for t in texts if SPECIAL_TOKEN.search(t)] == []
