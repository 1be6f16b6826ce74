"""Every container streams rows with an origin; unreadable rows come back as BadRow, never an exception."""

from __future__ import annotations

import gzip
import itertools
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from emergent.data.readers import BadRow, iter_hub_rows, iter_rows

ROWS = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(5)]


def _rows(path: Path | str) -> list:
    return list(iter_rows(path))


def test_jsonl_and_gz(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(r) for r in ROWS) + "\n"
    (tmp_path / "a.jsonl").write_text(text)
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as fh:
        fh.write(text)
    for name in ("a.jsonl", "a.jsonl.gz"):
        got = _rows(tmp_path / name)
        assert [r for _, r in got] == ROWS
        assert got[0][0] == f"{name}:1"


def test_json_array_is_streamed_and_json_lines_named_json(tmp_path: Path) -> None:
    (tmp_path / "arr.json").write_text(json.dumps(ROWS, indent=2))
    assert [r for _, r in _rows(tmp_path / "arr.json")] == ROWS
    assert _rows(tmp_path / "arr.json")[2][0] == "arr.json[2]"
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in ROWS))
    assert [r for _, r in _rows(tmp_path / "lines.json")] == ROWS


def test_json_mapping_of_records_keeps_the_key(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"t1": {"x": 1}, "t2": {"x": 2}}))
    got = _rows(tmp_path / "m.json")
    assert got == [("m.json#t1", {"_key": "t1", "x": 1}), ("m.json#t2", {"_key": "t2", "x": 2})]


def test_truncated_json_array_quarantines_the_rest(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps(ROWS)[:-30])
    got = _rows(tmp_path / "bad.json")
    assert isinstance(got[-1][1], BadRow) and got[-1][1].reason == "malformed_json"
    assert all(isinstance(r, dict) for _, r in got[:-1])


def test_csv_multiline_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('prompt,completion\n"line one\nline two","a, b"\n')
    assert _rows(tmp_path / "a.csv") == [("a.csv:2", {"prompt": "line one\nline two", "completion": "a, b"})]
    (tmp_path / "a.tsv").write_text("prompt\tcompletion\nq\ta\n")
    assert _rows(tmp_path / "a.tsv") == [("a.tsv:2", {"prompt": "q", "completion": "a"})]


def test_parquet(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "a.parquet")
    got = _rows(tmp_path / "a.parquet")
    assert [r for _, r in got] == ROWS and got[1][0] == "a.parquet#row1"


def test_zip_members(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("data/a.jsonl", "\n".join(json.dumps(r) for r in ROWS))
        zf.writestr("b.csv", "prompt,completion\nq,a\n")
        zf.writestr("readme.txt", "not data")
    assert len(_rows(tmp_path / "z.zip")) == 6
    only = _rows(f"{tmp_path / 'z.zip'}!b.csv")
    assert only == [("z.zip!b.csv:2", {"prompt": "q", "completion": "a"})]


def test_huggingface_saved_dataset_and_local_hub_name(tmp_path: Path) -> None:
    from datasets import Dataset

    Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    assert [r for _, r in _rows(tmp_path / "saved")] == ROWS
    # load_dataset by name: offline we point it at a local folder; online the same call takes a hub id.
    (tmp_path / "hubish").mkdir()
    (tmp_path / "hubish" / "train.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    got = list(iter_hub_rows(str(tmp_path / "hubish"), None, "train"))
    assert [r for _, r in got] == ROWS


def test_reading_is_lazy(tmp_path: Path) -> None:
    """A first row comes back without reading the whole file (files larger than RAM must work)."""
    path = tmp_path / "big.jsonl"
    with open(path, "w") as fh:
        for i in range(200_000):
            fh.write(json.dumps({"prompt": f"q{i}", "completion": "a"}) + "\n")
    stream = iter_rows(path)
    first = list(itertools.islice(stream, 3))
    assert [r["prompt"] for _, r in first] == ["q0", "q1", "q2"]
