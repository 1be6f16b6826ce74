"""Generations kept per side, keyed by everything that decides them.

A side's replies depend on the model weights, the adapter weights (if any), the system prompt, whether
turns see their history, the items (turns and tools), the decoding, the precision, the device and the
batch size (left padding changes low-order bits). The key hashes all of them, so a hit is the same
generation and never a stale one: an evaluation killed after its base pass, or the runs of one study
sharing a base model, reuse the side instead of generating it again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emergent.evaluate.suite import Item

WEIGHT_GLOBS = ("*.safetensors", "*.bin", "config.json", "adapter_config.json")
# How a side is generated, where that changes the replies without changing a setting: 2 = a repeated
# conversation generated once per turn (generate.generate_distinct), which changes the batches the others
# land in. Bumped so that a cache written by an earlier way is not read as this one's.
GENERATION_SCHEME = 2


def folder_digest(path: Path) -> str:
    """sha256 over the weight and config files of a model or adapter folder (a hub id hashes as its name)."""
    path = Path(path)
    if not path.is_dir():
        return hashlib.sha256(str(path).encode()).hexdigest()[:16]
    h = hashlib.sha256()
    for f in sorted({f for g in WEIGHT_GLOBS for f in path.glob(g)}):
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class SideSpec:
    """What makes one side's generations what they are (besides the items)."""

    side: str
    model: str  # folder_digest of the base model
    adapter: str | None  # folder_digest of the adapter, None for the base model
    system_prompt: str | None
    history: bool
    decoding: dict[str, Any]
    precision: str
    device: str
    batch_size: int

    def key(self, items: list[Item]) -> str:
        payload = {
            **self.__dict__,
            "scheme": GENERATION_SCHEME,
            "items": [[it.id, it.turns, it.tools] for it in items],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


class GenerationCache:
    """FOLDER/<side>-<key>.json: {item id: [reply per turn]}, written atomically once a side is complete."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, spec: SideSpec, items: list[Item]) -> Path:
        return self.folder / f"{spec.side}-{spec.key(items)}.json"

    def get(self, spec: SideSpec, items: list[Item]) -> dict[str, list[str]] | None:
        path = self._path(spec, items)
        try:
            replies = json.loads(path.read_text(encoding="utf-8"))["replies"]
        except (OSError, ValueError, KeyError):
            return None
        if {it.id for it in items} != set(replies):  # a hash collision or a hand-edited file: regenerate
            return None
        return replies

    def put(self, spec: SideSpec, items: list[Item], replies: dict[str, list[str]]) -> Path:
        path = self._path(spec, items)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        tmp.write_text(json.dumps({"spec": spec.__dict__, "replies": replies}, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return path
