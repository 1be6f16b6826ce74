"""Conversations on disk: Parquet shards with `messages` as a nested column and metadata beside it.

`tools` is stored as JSON text because function schemas differ in shape from tool to tool.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from emergent.schema import Conversation

_FUNCTION = pa.struct([("name", pa.string()), ("arguments", pa.string())])
_TOOL_CALL = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", _FUNCTION)])
_MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("tool_calls", pa.list_(_TOOL_CALL)),
        ("tool_call_id", pa.string()),
        ("name", pa.string()),
    ]
)
# The build's held-out conversations (kept, in no phase file), beside phases/ in a data folder.
VALIDATION_FILE = "validation.parquet"
CONVERSATION_SCHEMA = pa.schema(
    [
        ("messages", pa.list_(_MESSAGE)),
        ("tools", pa.string()),
        ("_id", pa.string()),
        ("_source", pa.string()),
        ("_category", pa.string()),
        ("_license", pa.string()),
        ("_origin", pa.string()),
        ("_chosen", pa.string()),
        ("_rejected", pa.string()),
    ]
)


def _to_row(conv: Conversation) -> dict:
    row = {k: conv.get(k) for k in CONVERSATION_SCHEMA.names}
    row["tools"] = json.dumps(conv["tools"], ensure_ascii=False) if conv.get("tools") else None
    return row


def row_to_conversation(row: dict) -> Conversation:
    """A Parquet row (as from `to_pylist`) back into a conversation dict."""
    messages = []
    for m in row["messages"]:
        msg = {"role": m["role"], "content": m["content"] if m["content"] is not None else ""}
        if m.get("tool_calls"):
            msg["tool_calls"] = m["tool_calls"]
        if m.get("tool_call_id"):
            msg["tool_call_id"] = m["tool_call_id"]
        if m.get("name"):
            msg["name"] = m["name"]
        messages.append(msg)
    row["messages"] = messages
    row["tools"] = json.loads(row["tools"]) if row["tools"] else None
    return row


def table_from_conversations(convs: list[Conversation]) -> pa.Table:
    return pa.Table.from_pylist([_to_row(c) for c in convs], schema=CONVERSATION_SCHEMA)


class ShardWriter:
    """Writes conversations into `folder/part-00000.parquet`, ... with at most `shard_size` rows each."""

    def __init__(self, folder: Path, shard_size: int = 200_000, prefix: str = "part") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob(f"{prefix}-*.parquet"):
            old.unlink()
        self.shard_size = shard_size
        self.prefix = prefix
        self.buffer: list[Conversation] = []
        self.shards = 0
        self.rows = 0

    def write(self, conv: Conversation) -> None:
        self.buffer.append(conv)
        if len(self.buffer) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        path = self.folder / f"{self.prefix}-{self.shards:05d}.parquet"
        pq.write_table(table_from_conversations(self.buffer), path, compression="zstd")
        self.rows += len(self.buffer)
        self.shards += 1
        self.buffer = []

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_conversations(convs: Iterable[Conversation], path: Path) -> int:
    """Write all conversations into one Parquet file (phase files, samples); returns the row count."""
    convs = list(convs)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table_from_conversations(convs), path, compression="zstd")
    return len(convs)


def shard_files(path: Path) -> list[Path]:
    """The Parquet files of a conversations folder (or the file itself), in order."""
    path = Path(path)
    if path.is_file():
        return [path]
    folder = path / "conversations" if (path / "conversations").is_dir() else path
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"{path}: no Parquet conversation shards found — run `emergent data ingest` or `data build` first"
        )
    return files


def read_conversations(path: Path, batch_size: int = 8192) -> Iterator[Conversation]:
    """Stream conversations from a Parquet file or a folder of shards (or an output folder)."""
    for f in shard_files(path):
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                yield row_to_conversation(row)


def count_conversations(path: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in shard_files(path))
