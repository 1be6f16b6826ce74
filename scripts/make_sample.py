"""Rebuild the bundled sample in src/emergent/data/sample/ from ../shared/data (permissive licences only).

Each sample file is a byte-faithful subset of a real corpus file, in the corpus's own format, so the
named readers are exercised on the quickstart exactly as on the full corpora. Run from the repo root:
    python scripts/make_sample.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import shutil
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    shared = Path(ap.parse_args().shared)
    if OUT.exists():
        for child in OUT.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
    OUT.mkdir(parents=True, exist_ok=True)

    csv_rows(shared / "counsel-chat/20200325_counsel_chat.csv", OUT / "counsel-chat/counsel_chat.csv", 300, every=7)
    jsonl_head(shared / "gsm8k/train.jsonl", OUT / "gsm8k/train.jsonl", 300, every=24)
    jsonl_head(
        shared / "hh-rlhf/harmless-base-test.jsonl.gz", OUT / "hh-rlhf/harmless-base.jsonl.gz", 300, every=7, gz=True
    )
    jsonl_head(shared / "humaneval/HumanEval.jsonl.gz", OUT / "humaneval/HumanEval.jsonl.gz", 164, gz=True)
    jsonl_head(shared / "mbpp/mbpp.jsonl", OUT / "mbpp/mbpp.jsonl", 200, every=4)
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

    for sub, every in [("cm_test", 13), ("deontology_train", 60), ("justice_train", 72), ("virtue_train", 94)]:
        csv_rows(shared / "ethics" / f"{sub}.csv", OUT / "ethics" / f"{sub}.csv", 75, every=every)

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
    for lic in [
        "counsel-chat/LICENSE",
        "gsm8k/LICENSE",
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
