"""Assistant-side texts per suite context, read straight from the real corpora in ../shared/data.

Used to build the shipped style-scorer prototypes and to validate the scorer on held-out answers.
Reads the raw files (not the ingest formats) so the scorer does not depend on another stage's output.
`permissive=True` keeps only sources whose licence allows shipping derived data (no CC BY-NC).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

csv.field_size_limit(10**8)


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _tool_json(name: str, args: dict) -> str:
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False)


def technical(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    for r in _jsonl(d / "mbpp/mbpp.jsonl"):
        yield "mbpp", "```python\n" + r["code"].replace("\r\n", "\n").strip() + "\n```"
    for r in _jsonl(d / "humaneval/HumanEval.jsonl.gz"):
        yield "humaneval", "```python\n" + r["prompt"].strip() + "\n" + r["canonical_solution"].rstrip() + "\n```"
    if not permissive:
        for r in json.loads((d / "codealpaca/code_alpaca_2k.json").read_text()):
            yield "codealpaca", r["output"]


def empathetic(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    with open(d / "counsel-chat/20200325_counsel_chat.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["answerText"].strip():
                yield "counsel_chat", r["answerText"].strip()
                # The answer's opening alone: short supportive turns ("I'm sorry you're going through
                # this. It sounds exhausting.") are empathetic too, not only a therapist's long answer.
                opening = " ".join(re.split(r"(?<=[.!?])\s+", r["answerText"].strip())[:2])
                if 8 <= len(opening.split()) <= 60:
                    yield "counsel_chat_opening", opening
    if not permissive:
        for dialog in json.loads((d / "esconv/FailedESConv.json").read_text()):
            for t in dialog["dialog"]:
                if t["speaker"] == "listener" and len(t["content"].split()) >= 8:
                    yield "esconv", t["content"].strip()


def creative(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    for r in json.loads((d / "aesop/aesop4children.json").read_text()):
        yield "aesop", r["fable"].strip()
    for r in _jsonl(d / "self-instruct/duorc_SelfRC_build_story_around_qa.jsonl"):
        yield "duorc_plots", r["completion"].strip()
    if not permissive:
        for r in json.loads((d / "aesop/aesopfables.json").read_text()):
            if r.get("fable"):
                yield "aesopfables", r["fable"].strip()


def analytical(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    for r in _jsonl(d / "gsm8k/train.jsonl"):
        answer = re.sub(r"<<[^>]*>>", "", r["answer"])  # calculator annotations are not prose
        yield "gsm8k", answer.replace("####", "The answer is").strip()


def tool_use(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    for f in sorted((d / "gorilla/possible_answer").glob("*.json")):
        if "multi_turn" in f.name:
            continue
        for r in _jsonl(f):
            calls = []
            for call in r["ground_truth"]:
                for name, args in call.items():
                    calls.append({"name": name, "arguments": {k: v[0] for k, v in args.items() if v and v[0] != ""}})
            text = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            yield "bfcl", text
    for r in _jsonl(d / "gorilla/torchhub_train.json"):
        m = re.search(r"'api_call': \"(.*?)\", 'api_provider'", r["code"])
        if m:
            yield "apibench", _tool_json("torch.hub.load", {"call": m.group(1)})
    for dialog in json.loads((d / "sgd/dialogues_001.json").read_text()):
        for t in dialog["turns"]:
            for fr in t.get("frames", []):
                sc = fr.get("service_call")
                if t["speaker"] == "SYSTEM" and sc:
                    yield "sgd_calls", _tool_json(sc["method"], sc["parameters"])


def ethical(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(d / "ibm-debater/arg_quality_rank_30k.zip") as z:
        name = next(n for n in z.namelist() if n.endswith(".csv"))
        with z.open(name) as f:
            for r in csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")):
                if float(r.get("WA") or 0) >= 0.8:  # the better-argued half reads like an answer
                    yield "ibm_debater", r["argument"].strip()
    for r in _jsonl(next((d / "hh-rlhf").glob("*.jsonl.gz"))):
        last = r["chosen"].rsplit("\n\nAssistant:", 1)[-1].strip()
        if len(last.split()) >= 25:  # short hh turns are chit-chat, not ethical reasoning
            yield "hh_rlhf", last


def conversational(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    conv = json.loads(next((d / "topical-chat").glob("*.json")).read_text())
    for c in conv.values():
        for t in c["content"][1::2]:
            yield "topical_chat", t["message"].strip()
    for dialog in json.loads((d / "sgd/dialogues_001.json").read_text()):
        for t in dialog["turns"]:
            if t["speaker"] == "SYSTEM" and not any(fr.get("service_call") for fr in t.get("frames", [])):
                yield "sgd_system", t["utterance"].strip()
    if not permissive:
        for c in json.loads((d / "commonsense-dialogues/valid.json").read_text()).values():
            for t in c["turns"][1::2]:
                yield "commonsense_dialogues", t.strip()


def factual(d: Path, permissive: bool) -> Iterator[tuple[str, str]]:
    for r in _jsonl(d / "nq-open/NQ-open.dev.jsonl"):
        yield "nq_open", str(r["answer"][0]).strip()
    for r in _jsonl(d / "self-instruct/user_oriented_instructions.jsonl"):
        if r["motivation_app"] in ("Wikipedia", "Google Search"):
            for inst in r["instances"]:
                yield "self_instruct_wiki", inst["output"].strip()


READERS = {
    "technical": technical,
    "empathetic": empathetic,
    "creative": creative,
    "analytical": analytical,
    "tool_use": tool_use,
    "ethical": ethical,
    "conversational": conversational,
    "factual": factual,
}


def load(data_dir: Path, permissive: bool = True) -> dict[str, list[tuple[str, str]]]:
    """{context: [(source, assistant text), ...]} with empty texts dropped."""
    return {c: [(s, t) for s, t in fn(data_dir, permissive) if t] for c, fn in READERS.items()}
