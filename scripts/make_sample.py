"""Rebuild the bundled sample in src/emergent/data/sample/ from ../shared/data (permissive licences only).

Each sample file is a byte-faithful subset of a real corpus file, in the corpus's own format, so the
named readers are exercised on the quickstart exactly as on the full corpora. Run from the repo root:
    python scripts/make_sample.py [--shared ../shared/data] [--only FOLDER ...]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "emergent" / "data" / "sample"


def jsonl_head(src: Path, dst: Path, n: int, every: int = 1, gz: bool = False) -> list[str]:
    """Every `every`-th line of a JSON-lines file, up to n lines (a spread, not just the first rows)."""
    opener = gzip.open if gz else open
    with opener(src, "rt", encoding="utf-8") as fh:
        lines = [line for i, line in enumerate(fh) if i % every == 0][:n]
    dst.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.GzipFile(dst, "wb", mtime=0) as fh:  # mtime 0: the same bytes every rebuild
            fh.write("".join(lines).encode())
    else:
        dst.write_text("".join(lines), encoding="utf-8")
    return lines


def csv_rows(src: Path, dst: Path, n: int, every: int = 1, keep=None) -> None:
    with open(src, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for i, r in enumerate(reader) if i % every == 0 and (keep is None or keep(header, r))][:n]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


# The quickstart trains at 512 tokens: records longer than this (about 450 tokens) would be cut before
# the reply ends, or train no reply token at all, so the new sources' samples are drawn from shorter ones.
SAMPLE_MAX_CHARS = 1_700


def pubmedqa(shared: Path, out: Path, n: int = 30) -> None:
    """Every k-th PQA-L question whose question, abstract and conclusion fit the quickstart's window."""
    data = json.loads((shared / "pubmedqa/ori_pqal.json").read_text(encoding="utf-8"))
    fits = [
        k
        for k, v in data.items()
        if len(v["QUESTION"]) + len(" ".join(v["CONTEXTS"])) + len(v["LONG_ANSWER"]) <= SAMPLE_MAX_CHARS
    ]
    keep = fits[:: len(fits) // n][:n]
    out.mkdir(parents=True, exist_ok=True)
    (out / "ori_pqal.json").write_text(json.dumps({k: data[k] for k in keep}, indent=4) + "\n", encoding="utf-8")
    shutil.copy(shared / "pubmedqa/LICENSE", out / "LICENSE")


def medquad(shared: Path, out: Path, per_site: int = 10) -> None:
    """Whole XML documents (byte for byte), from each of the six folders, until a folder gives `per_site`
    question-answer pairs; only documents whose every answer fits the quickstart's window."""
    chosen: dict[str, list[tuple[str, bytes]]] = {}
    counts: dict[str, int] = {}
    with tarfile.open(shared / "medquad/medquad_answered_subset.tar.gz", "r|gz") as tar:
        for i, member in enumerate(tar):
            if not member.isfile() or not member.name.endswith(".xml") or i % 3:
                continue
            data = tar.extractfile(member).read()
            text = data.decode("utf-8")
            answers = text.split("<Answer>")[1:]
            site = member.name.split("/")[0]
            if not answers or counts.get(site, 0) >= per_site:
                continue
            if max(len(a.split("</Answer>")[0]) for a in answers) > SAMPLE_MAX_CHARS:
                continue
            chosen.setdefault(site, []).append((member.name, data))
            counts[site] = counts.get(site, 0) + len(answers)
    out.mkdir(parents=True, exist_ok=True)
    # Deterministic bytes: fixed mtimes and owner, gzip without a timestamp.
    with gzip.GzipFile(out / "medquad_sample.tar.gz", "wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for site in sorted(chosen):
            for name, data in chosen[site]:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 1697552113, 0o644
                tar.addfile(info, io.BytesIO(data))
    for name in ("LICENSE.txt", "readme.txt"):
        shutil.copy(shared / "medquad" / name, out / name)


def gpteacher_roleplay(shared: Path, out: Path, n: int = 100) -> None:
    """Every k-th role-play row, plus the one reply made only of sound effects (so the quickstart's report
    shows that quarantine reason on a real row)."""
    rows = json.loads((shared / "gpteacher-roleplay/roleplay-simple-deduped-roleplay-instruct.json").read_text())
    fits = [r for r in rows if len(r["instruction"]) + len(r["input"]) + len(r["response"]) <= SAMPLE_MAX_CHARS]
    keep = fits[:: len(fits) // n][:n]
    keep += [r for r in rows if r["response"].startswith("*Grrrr") and r not in keep]
    out.mkdir(parents=True, exist_ok=True)
    (out / "roleplay.json").write_text(json.dumps(keep, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.copy(shared / "gpteacher-roleplay/LICENSE", out / "LICENSE")


def topical_chat(shared: Path, out: Path, n: int = 250) -> None:
    """Every 2nd conversation; per turn only the message and the agent (what the reader reads), gzipped. The
    turn annotations (sentiment, knowledge_source, turn_rating) would double the file the package ships."""
    data = json.loads((shared / "topical-chat/valid_freq.json").read_text(encoding="utf-8"))
    keep = {
        k: {**data[k], "content": [{"message": t["message"], "agent": t["agent"]} for t in data[k]["content"]]}
        for k in list(data)[::2][:n]
    }
    out.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out / "valid_freq.json.gz", "wb", mtime=0) as fh:  # a third of the size; same bytes each run
        fh.write((json.dumps(keep, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
    shutil.copy(shared / "topical-chat/DATALICENSE", out / "DATALICENSE")


def ethics(shared: Path, out: Path, n: int = 40) -> None:
    """Every k-th row of each training subset (cm_test is an evaluation split); 40 each keeps the ethical
    bucket near its 3-5 % target in the quickstart."""
    for sub, every in [("deontology_train", 60), ("justice_train", 72), ("virtue_train", 94)]:
        csv_rows(shared / "ethics" / f"{sub}.csv", out / f"{sub}.csv", n, every=every)


def mbpp(shared: Path, out: Path, n: int = 474) -> None:
    """The tasks outside the test ids 11-510 (the benchmark's evaluation split, never trained on): all 474,
    the only permissive code corpus with explained tasks here, for a technical bucket nearer its 25-30 %."""
    lines = (shared / "mbpp/mbpp.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    train = [line for line in lines if not 11 <= json.loads(line)["task_id"] <= 510]
    out.mkdir(parents=True, exist_ok=True)
    (out / "mbpp.jsonl").write_text("".join(train[:n]), encoding="utf-8")


def gsm8k(shared: Path, out: Path) -> None:
    """Every 16th training problem, 450: the analytical bucket at its 15 % floor in the quickstart."""
    jsonl_head(shared / "gsm8k/train.jsonl", out / "train.jsonl", 450, every=16)
    shutil.copy(shared / "gsm8k/LICENSE", out / "LICENSE")


# Folders `--only` can rebuild alone, leaving the rest of the sample as it is.
SEPARATE = {
    "gsm8k": gsm8k,
    "ethics": ethics,
    "mbpp": mbpp,
    "pubmedqa": pubmedqa,
    "medquad": medquad,
    "gpteacher-roleplay": gpteacher_roleplay,
    "topical-chat": topical_chat,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--only", nargs="+", choices=sorted(SEPARATE), help="rebuild only these folders")
    args = ap.parse_args()
    shared = Path(args.shared)
    if args.only:
        for name in args.only:
            if (OUT / name).exists():
                shutil.rmtree(OUT / name)
            SEPARATE[name](shared, OUT / name)
            for path in (OUT / name).rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
        print(f"{', '.join(args.only)} written to {OUT}")
        return
    if OUT.exists():
        for child in OUT.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
    OUT.mkdir(parents=True, exist_ok=True)

    csv_rows(shared / "counsel-chat/20200325_counsel_chat.csv", OUT / "counsel-chat/counsel_chat.csv", 300, every=7)
    jsonl_head(
        shared / "hh-rlhf/harmless-base-test.jsonl.gz", OUT / "hh-rlhf/harmless-base.jsonl.gz", 300, every=7, gz=True
    )
    jsonl_head(shared / "humaneval/HumanEval.jsonl.gz", OUT / "humaneval/HumanEval.jsonl.gz", 164, gz=True)
    jsonl_head(shared / "nq-open/NQ-open.dev.jsonl", OUT / "nq-open/NQ-open.dev.jsonl", 300, every=12)
    jsonl_head(
        shared / "self-instruct/user_oriented_instructions.jsonl",
        OUT / "self-instruct/user_oriented_instructions.jsonl",
        252,
    )

    # Tool use: BFCL questions with their gold answers (same ids), and the multi-turn class docs.
    for name, n in [
        ("simple_python", 100),
        ("multiple", 60),
        ("parallel", 60),
        ("parallel_multiple", 60),
        ("multi_turn_base", 30),
    ]:
        fname = f"BFCL_v4_{name}.json"
        every = {"simple_python": 4}.get(name, 3)
        lines = jsonl_head(shared / "gorilla" / fname, OUT / "gorilla" / fname, n, every=every)
        ids = {json.loads(line)["id"] for line in lines}
        answers = [
            a
            for a in (shared / "gorilla/possible_answer" / fname).read_text().splitlines(keepends=True)
            if json.loads(a)["id"] in ids
        ]
        (OUT / "gorilla/possible_answer").mkdir(parents=True, exist_ok=True)
        (OUT / "gorilla/possible_answer" / fname).write_text("".join(answers))
    shutil.copytree(shared / "gorilla/multi_turn_func_doc", OUT / "gorilla/multi_turn_func_doc")
    torchhub = (
        json.loads((shared / "gorilla/torchhub_train.json").read_text())
        if (shared / "gorilla/torchhub_train.json").read_text().lstrip().startswith("[")
        else None
    )
    if torchhub is None:
        jsonl_head(shared / "gorilla/torchhub_train.json", OUT / "gorilla/torchhub_train.json", 150, every=5)
    else:
        (OUT / "gorilla/torchhub_train.json").write_text(json.dumps(torchhub[::5][:150], indent=1))

    # IBM Debater ArgQ: all arguments of 12 topics (records are grouped per topic), re-zipped.
    with zipfile.ZipFile(shared / "ibm-debater/arg_quality_rank_30k.zip") as zf:
        text = zf.read("arg_quality_rank_30k.csv").decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    topics = sorted({r[1] for r in rows[1:]})[::6][:12]
    buf = io.StringIO()
    csv.writer(buf).writerows([rows[0]] + [r for r in rows[1:] if r[1] in topics])
    (OUT / "ibm-debater").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(OUT / "ibm-debater/arg_quality_rank_30k.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("arg_quality_rank_30k.csv", date_time=(2019, 11, 25, 11, 57, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, buf.getvalue())

    # SGD: 60 dialogs and the full schema (services are looked up by name).
    dialogs = json.loads((shared / "sgd/dialogues_001.json").read_text())
    (OUT / "sgd").mkdir(parents=True, exist_ok=True)
    (OUT / "sgd/dialogues_001.json").write_text(json.dumps(dialogs[::2][:60], indent=1))
    shutil.copy(shared / "sgd/schema.json", OUT / "sgd/schema.json")

    shutil.copytree(shared / "aesop", OUT / "aesop", ignore=shutil.ignore_patterns("aesopfables*.json"))
    for name, make in SEPARATE.items():
        make(shared, OUT / name)
    for lic in [
        "counsel-chat/LICENSE",
        "hh-rlhf/LICENSE",
        "humaneval/LICENSE",
        "gorilla/LICENSE",
        "self-instruct/LICENSE",
        "sgd/LICENSE.txt",
    ]:
        shutil.copy(shared / lic, OUT / lic)
    for path in OUT.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # copies of read-only files stay editable
    print(f"sample written to {OUT}")


if __name__ == "__main__":
    main()
