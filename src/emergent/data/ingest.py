"""Ingestion: every source's rows -> conversations, every unusable row -> quarantine with a reason.

`IngestStream` is the reusable part (curation consumes it directly); `ingest` writes the
Parquet shards, `quarantine.jsonl` and `manifest.json`. Per source, input = accepted + quarantined
is checked here, not hoped for. Every record passes the content guard (`emergent.data.guard`):
special-token strings and mojibake are repaired (counted under `repaired`) or quarantined.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergent.data.config import IngestConfig, SourceConfig
from emergent.data.formats import get_format
from emergent.data.guard import guard_conversation, guard_text
from emergent.data.readers import BadRow
from emergent.data.store import ShardWriter
from emergent.errors import Reject
from emergent.schema import PAIR_KEYS, Conversation, make_conversation, normalize_category, validate_conversation

# Control tags that would condition the model on a persona instead of letting style emerge.
PERSONA_TAG = re.compile(
    r"<\|\s*/?\s*persona[^|>]*\|>"  # <|persona|>, <|persona:coder|>
    r"|</?\s*persona\s*(?:[:=][^>]*)?>"  # <persona:...>, <persona=...>, </persona>
    r"|\[\s*/?\s*persona\s*(?:[:=][^\]]*)?\]",  # [persona=...], [persona: ...], [persona]
    re.IGNORECASE,
)


@dataclass
class SourceStats:
    name: str
    format: str
    license: str | None
    category: str | None
    input: int = 0
    accepted: int = 0
    quarantined: int = 0
    persona_tags_stripped: int = 0
    reasons: Counter = field(default_factory=Counter)
    # Accepted records the content guard changed: special_token_stripped, mojibake_fixed.
    repaired: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "license": self.license,
            "format": self.format,
            "category": self.category,
            "persona_tags_stripped": self.persona_tags_stripped,
            "reasons": dict(sorted(self.reasons.items())),
            "repaired": dict(sorted(self.repaired.items())),
        }


QuarantineSink = Callable[[dict[str, Any]], None]


def strip_persona_tags(conv: dict) -> int:
    """Remove persona control tags from every message in place; returns how many were removed."""
    removed = 0
    for m in conv["messages"]:
        text = m.get("content") or ""
        if "persona" in text.lower():
            new, n = PERSONA_TAG.subn("", text)
            if n:
                m["content"] = re.sub(r"[ \t]{2,}", " ", new).strip()
                removed += n
    return removed


class IngestStream:
    """Iterate accepted conversations of every source; quarantined rows go to `sink` with a reason."""

    def __init__(self, sources: list[SourceConfig], config: IngestConfig, sink: QuarantineSink) -> None:
        self.sources = sources
        self.config = config
        self.sink = sink
        self.stats: dict[str, SourceStats] = {}

    def __iter__(self) -> Iterator[Conversation]:
        for source in self.sources:
            yield from self.source_records(source)

    def _quarantine(self, stats: SourceStats, origin: str, reason: str, detail: str, raw: Any) -> None:
        stats.quarantined += 1
        stats.reasons[reason] += 1
        if not isinstance(raw, str):
            raw = json.dumps(raw, ensure_ascii=False, default=str)
        limit = self.config.raw_preview_chars
        self.sink(
            {
                "source": stats.name,
                "origin": origin,
                "reason": reason,
                "detail": detail[:500],
                "raw": raw[:limit] + ("…[truncated]" if len(raw) > limit else ""),
            }
        )

    def source_records(self, source: SourceConfig, on_row: Callable[[], None] | None = None) -> Iterator[Conversation]:
        fmt = get_format(source.format)
        category = source.category or normalize_category(fmt.category)
        stats = SourceStats(source.name, source.format, source.license or fmt.license, category)
        self.stats[source.name] = stats
        for origin, row in fmt.rows(source):
            if source.max_examples is not None and stats.accepted >= source.max_examples:
                break
            stats.input += 1
            if on_row:
                on_row()
            if isinstance(row, BadRow):
                self._quarantine(stats, origin, row.reason, "", row.raw)
                continue
            conv = self._convert(fmt, row, source, stats, origin)
            if conv is not None:
                stats.accepted += 1
                yield conv
        if stats.input != stats.accepted + stats.quarantined:
            raise RuntimeError(f"{source.name}: accounting broke: {stats.as_dict()}")

    def _convert(
        self, fmt: Any, row: dict, source: SourceConfig, stats: SourceStats, origin: str
    ) -> Conversation | None:
        try:
            conv = fmt.convert(row, source)
        except Reject as rej:
            self._quarantine(stats, origin, rej.reason, rej.detail, row)
            return None
        except Exception as err:  # a converter bug must not lose the row silently or stop the run
            self._quarantine(stats, origin, "convert_error", f"{type(err).__name__}: {err}", row)
            return None
        if self.config.persona_tags == "quarantine":
            if any(PERSONA_TAG.search(m.get("content") or "") for m in conv["messages"]):
                self._quarantine(stats, origin, "persona_tag", "persona control tag in a message", row)
                return None
        else:
            stats.persona_tags_stripped += strip_persona_tags(conv)
        try:
            repairs = guard_conversation(conv)
            for key in PAIR_KEYS:
                if conv.get(key):
                    conv[key] = guard_text(conv[key], key)[0]
        except Reject as rej:
            self._quarantine(stats, origin, rej.reason, rej.detail, row)
            return None
        size = sum(len(m.get("content") or "") for m in conv["messages"])
        if size > self.config.max_record_chars:
            self._quarantine(
                stats, origin, "oversize", f"{size} chars > ingest.max_record_chars={self.config.max_record_chars}", row
            )
            return None
        reason = validate_conversation(conv)
        if reason:
            self._quarantine(stats, origin, reason, "", row)
            return None
        stats.repaired.update(repairs)
        record = make_conversation(
            conv["messages"],
            source=source.name,
            origin=origin,
            category=stats.category,
            license=stats.license,
            tools=conv.get("tools"),
        )
        record.update({k: conv[k] for k in PAIR_KEYS if conv.get(k) is not None})
        return record

    def summary(self) -> dict[str, Any]:
        reasons: Counter = Counter()
        for s in self.stats.values():
            reasons.update(s.reasons)
        return {
            "counts": {
                "input": sum(s.input for s in self.stats.values()),
                "accepted": sum(s.accepted for s in self.stats.values()),
                "quarantined": sum(s.quarantined for s in self.stats.values()),
            },
            "sources": {name: s.as_dict() for name, s in self.stats.items()},
            "reasons": dict(sorted(reasons.items())),
            "persona_tags_stripped": sum(s.persona_tags_stripped for s in self.stats.values()),
            "repaired": dict(sorted(sum((s.repaired for s in self.stats.values()), Counter()).items())),
        }


class QuarantineFile:
    """Appends quarantine entries as JSON lines."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "w", encoding="utf-8")

    def __call__(self, entry: dict[str, Any]) -> None:
        self.fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.fh.close()


def ingest(sources: list[SourceConfig], config: IngestConfig, out: Path, show_progress: bool = True) -> dict[str, Any]:
    """Write `out/conversations/*.parquet`, `out/quarantine.jsonl` and `out/manifest.json`."""
    from emergent.progress import counter_progress

    out.mkdir(parents=True, exist_ok=True)
    quarantine = QuarantineFile(out / "quarantine.jsonl")
    stream = IngestStream(sources, config, quarantine)
    try:
        with (
            ShardWriter(out / "conversations", config.shard_size) as writer,
            counter_progress(show_progress) as progress,
        ):
            for source in sources:
                task = progress.add_task(f"ingest {source.name}", total=None)
                for conv in stream.source_records(source, on_row=lambda t=task: progress.advance(t)):
                    writer.write(conv)
    finally:
        quarantine.close()
    manifest = {"stage": "ingest", **stream.summary(), "shards": writer.shards}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest
