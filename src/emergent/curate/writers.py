"""Writers of the build's files: dropped/*.jsonl, the staging file of pass 1, the mixture shards and
the phase files (an external shuffle, so memory stays flat whatever the size of a phase)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from emergent.data.store import CONVERSATION_SCHEMA

# Staged record batches are this big so pass 2 does few, large Arrow operations.
STAGING_BATCH_ROWS = 16_384
# The external shuffle of phase files holds one bucket of this many rows in memory at a time.
PHASE_BUCKET_ROWS = 200_000


class DroppedFiles:
    """dropped/<step>.jsonl, one JSON line per dropped record, appended in stream order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.handles: dict[str, Any] = {}

    def write(self, entries: dict[str, list[dict]]) -> None:
        for step, items in entries.items():
            if step not in self.handles:
                self.handles[step] = open(self.folder / f"{step}.jsonl", "w", encoding="utf-8")
            self.handles[step].writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in items)

    def close(self) -> None:
        for h in self.handles.values():
            h.close()


class Staging:
    """Survivors of pass 1 as an Arrow IPC file, written in large record batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = ipc.new_file(pa.OSFile(str(path), "wb"), CONVERSATION_SCHEMA)
        self.buffer: list[pa.Table] = []
        self.rows = 0

    def write(self, ipc_bytes: bytes) -> None:
        table = ipc.open_stream(ipc_bytes).read_all()
        self.buffer.append(table)
        self.rows += table.num_rows
        if self.rows >= STAGING_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(
                pa.concat_tables(self.buffer).combine_chunks(), max_chunksize=STAGING_BATCH_ROWS * 2
            )
        self.buffer, self.rows = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


class ShardSink:
    """conversations/part-NNNNN.parquet with exactly `shard_size` rows each (the last may be short)."""

    def __init__(self, folder: Path, shard_size: int) -> None:
        self.folder, self.shard_size = folder, shard_size
        folder.mkdir(parents=True, exist_ok=True)
        self.buffer: list[pa.Table] = []
        self.rows = 0
        self.shards = 0

    def write(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.rows += table.num_rows
        while self.rows >= self.shard_size:
            whole = pa.concat_tables(self.buffer)
            self._write(whole.slice(0, self.shard_size))
            rest = whole.slice(self.shard_size)
            self.buffer, self.rows = [rest], rest.num_rows

    def _write(self, table: pa.Table) -> None:
        pq.write_table(table.combine_chunks(), self.folder / f"part-{self.shards:05d}.parquet", compression="zstd")
        self.shards += 1

    def close(self) -> None:
        if self.rows or self.shards == 0:
            self._write(pa.concat_tables(self.buffer) if self.buffer else CONVERSATION_SCHEMA.empty_table())


class PhaseBuckets:
    """External shuffle: rows go to bucket files by their shuffled position, then each bucket is sorted."""

    def __init__(self, folder: Path, positions: list[np.ndarray]) -> None:
        self.folder, self.positions = folder, positions
        folder.mkdir(parents=True, exist_ok=True)
        self.writers: dict[tuple[int, int], Any] = {}
        self.schema = CONVERSATION_SCHEMA.append(pa.field("_pos", pa.int64()))

    def _path(self, p: int, b: int) -> Path:
        return self.folder / f"{p}-{b:05d}.arrow"

    def route(self, table: pa.Table, offset: int) -> None:
        for p, pos_all in enumerate(self.positions):
            pos = pos_all[offset : offset + table.num_rows]
            sel = np.nonzero(pos >= 0)[0]
            if not len(sel):
                continue
            bucket = pos[sel] // PHASE_BUCKET_ROWS
            order = np.argsort(bucket, kind="stable")
            sel, bucket = sel[order], bucket[order]
            bounds = np.nonzero(np.r_[True, bucket[1:] != bucket[:-1], True])[0]
            for s, e in zip(bounds[:-1], bounds[1:], strict=True):
                part = table.take(sel[s:e]).append_column("_pos", pa.array(pos[sel[s:e]], pa.int64()))
                key = (p, int(bucket[s]))
                if key not in self.writers:
                    self.writers[key] = ipc.new_file(pa.OSFile(str(self._path(*key)), "wb"), self.schema)
                self.writers[key].write_table(part)

    def finish(self, files: list[Path]) -> None:
        """Write shuffle p, in its shuffled order, to files[p]."""
        for w in self.writers.values():
            w.close()
        for p, file in enumerate(files):
            file.parent.mkdir(parents=True, exist_ok=True)
            n_buckets = (int(self.positions[p].max(initial=-1)) // PHASE_BUCKET_ROWS) + 1
            with pq.ParquetWriter(file, CONVERSATION_SCHEMA, compression="zstd") as writer:
                for b in range(n_buckets):
                    path = self._path(p, b)
                    with pa.OSFile(str(path), "rb") as f:
                        table = ipc.open_file(f).read_all()
                    table = table.take(np.argsort(table.column("_pos").to_numpy(), kind="stable")).drop_columns(
                        ["_pos"]
                    )
                    writer.write_table(table.combine_chunks())
                    path.unlink()
