"""File readers: every supported container yields rows as a stream of `(origin, row)` pairs.

A row that cannot be read (malformed JSON or CSV, non-UTF-8 bytes) is yielded as a `BadRow` so the
caller quarantines it with a reason; one bad line never stops a file. Nothing is loaded whole except
JSON documents that are a single object, which cannot be streamed meaningfully.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

TEXT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")

csv.field_size_limit(sys.maxsize)


@dataclass(slots=True)
class BadRow:
    """A row that could not be read; `raw` is the offending text (the caller truncates it)."""

    origin: str
    reason: str
    raw: str


Row = tuple[str, "dict[str, Any] | BadRow"]


def _kind(name: str) -> str:
    name = name.lower().removesuffix(".gz")
    for suffix in TEXT_SUFFIXES:
        if name.endswith(suffix):
            return suffix.lstrip(".").replace("ndjson", "jsonl")
    raise ValueError(f"{name}: unknown file type — use .jsonl, .json, .csv, .tsv, .parquet (optionally .gz) or .zip")


def iter_rows(path: Path | str) -> Iterator[Row]:
    """Stream rows from a file, `archive.zip!member`, a whole zip, or a saved Hugging Face dataset."""
    target, _, member = str(path).partition("!")
    p = Path(target)
    if p.is_dir():
        yield from _iter_hf_disk(p)
    elif p.suffix.lower() == ".zip":
        with zipfile.ZipFile(p) as zf:
            names = [member] if member else [n for n in zf.namelist() if _is_data_member(n)]
            for name in names:
                with zf.open(name) as fh:
                    yield from _iter_stream(fh, name, f"{p.name}!{name}")
    else:
        with open(p, "rb") as fh:
            yield from _iter_stream(fh, p.name, p.name)


def _is_data_member(name: str) -> bool:
    if name.endswith("/") or "__MACOSX" in name or Path(name).name.startswith("."):
        return False
    try:
        _kind(name)
    except ValueError:
        return False
    return True


def _iter_stream(fh: IO[bytes], name: str, label: str) -> Iterator[Row]:
    if name.lower().endswith(".gz"):
        fh = gzip.GzipFile(fileobj=fh)
    kind = _kind(name)
    if kind == "jsonl":
        yield from _iter_jsonl(fh, label)
    elif kind == "json":
        yield from _iter_json(fh, label)
    elif kind in ("csv", "tsv"):
        yield from _iter_csv(fh, label, delimiter="\t" if kind == "tsv" else ",")
    else:
        yield from _iter_parquet(fh, label)


def _iter_jsonl(fh: IO[bytes], label: str, start_line: int = 1) -> Iterator[Row]:
    for lineno, raw in enumerate(fh, start_line):
        origin = f"{label}:{lineno}"
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)  # validates UTF-8 too, and is several times faster than json
        except orjson.JSONDecodeError:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield origin, BadRow(origin, "non_utf8", raw.decode("utf-8", "replace"))
                continue
            try:  # orjson rejects what json accepts (NaN, huge ints): give the standard parser a chance
                obj = json.loads(text)
            except ValueError:
                yield origin, BadRow(origin, "malformed_json", text)
                continue
        if not isinstance(obj, dict):
            yield origin, BadRow(origin, "not_an_object", raw.decode("utf-8", "replace"))
            continue
        yield origin, obj


def _iter_json(fh: IO[bytes], label: str) -> Iterator[Row]:
    """A JSON array (streamed element by element), a JSON-lines file named .json, or one object."""
    buffered = io.BufferedReader(fh) if not isinstance(fh, io.BufferedReader) else fh
    head = buffered.peek(64).lstrip()
    if head.startswith(b"["):
        yield from _iter_json_array(buffered, label)
        return
    first = buffered.readline()
    rest = buffered.read(1)
    if rest and _parses(first):
        # JSON lines under a .json name (BFCL does this).
        yield from _iter_jsonl(io.BufferedReader(_Prepend(first + rest, buffered)), label)
        return
    data = first + rest + buffered.read()
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        yield label, BadRow(label, "non_utf8", data[:2000].decode("utf-8", "replace"))
        return
    except ValueError:
        yield label, BadRow(label, "malformed_json", data[:2000].decode("utf-8", "replace"))
        return
    if isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
        # A mapping of id -> record (Topical-Chat, Commonsense-Dialogues): keep the id as `_key`.
        for key, value in obj.items():
            origin = f"{label}#{key}"
            if isinstance(value, dict):
                yield origin, {"_key": key, **value}
            else:
                yield origin, BadRow(origin, "not_an_object", json.dumps(value)[:2000])
    elif isinstance(obj, dict):
        yield label, obj
    else:
        yield label, BadRow(label, "not_an_object", data[:2000].decode("utf-8", "replace"))


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


class _Prepend(io.RawIOBase):
    """A raw stream that yields `head` before the rest of `tail`."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self.head = head
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.tail.read(len(b))
        b[: len(data)] = data
        return len(data)


def _iter_json_array(fh: IO[bytes], label: str) -> Iterator[Row]:
    """Stream a top-level JSON array with ijson; a syntax error quarantines the rest of the file."""
    import ijson

    index = 0
    try:
        for index, obj in enumerate(ijson.items(fh, "item", use_float=True)):
            origin = f"{label}[{index}]"
            if isinstance(obj, dict):
                yield origin, obj
            else:
                yield origin, BadRow(origin, "not_an_object", json.dumps(obj, default=str)[:2000])
    except (ijson.JSONError, UnicodeDecodeError) as err:
        origin = f"{label}[{index + 1}:]"
        reason = "non_utf8" if isinstance(err, UnicodeDecodeError) else "malformed_json"
        yield origin, BadRow(origin, reason, f"unreadable from element {index + 1}: {err}")


def _iter_csv(fh: IO[bytes], label: str, delimiter: str) -> Iterator[Row]:
    text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.lstrip("\ufeff").strip() for h in header]
    width = len(header)
    while True:
        lineno = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            origin = f"{label}:{lineno}"
            yield origin, BadRow(origin, "malformed_csv", str(err))
            continue
        origin = f"{label}:{lineno}"
        if not fields:
            continue
        raw = delimiter.join(fields)
        if _has_surrogates(raw):
            yield origin, BadRow(origin, "non_utf8", raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
            continue
        if len(fields) != width:
            yield origin, BadRow(origin, "malformed_csv", f"expected {width} fields, got {len(fields)}: {raw}")
            continue
        yield origin, dict(zip(header, fields, strict=False))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _iter_parquet(fh: IO[bytes], label: str) -> Iterator[Row]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(fh)
    n = 0
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            yield f"{label}#row{n}", row
            n += 1


def _iter_hf_disk(folder: Path) -> Iterator[Row]:
    """A Hugging Face dataset written with `save_to_disk` (memory-mapped Arrow, so streaming in effect)."""
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(str(folder))
    splits = ds.items() if isinstance(ds, DatasetDict) else [("", ds)]
    for split, part in splits:
        tag = f"{folder.name}/{split}" if split else folder.name
        for i, row in enumerate(part):
            yield f"{tag}#row{i}", row


def iter_hub_rows(name: str, config: str | None, split: str) -> Iterator[Row]:
    """A Hugging Face hub dataset by name, streamed (needs network access to the hub)."""
    from datasets import load_dataset

    ds = load_dataset(name, config, split=split, streaming=True)
    for i, row in enumerate(ds):
        yield f"hub:{name}/{split}#row{i}", row


def iter_source_rows(source: Any) -> Iterator[Row]:
    """Every row of a source: its hub split, or each of its files in order."""
    if source.hub:
        yield from iter_hub_rows(source.hub, source.hub_config, source.split)
        return
    for path in source.files:
        yield from iter_rows(path)
