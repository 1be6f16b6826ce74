"""Config for ingestion: the sources of a mixture and how records are checked on the way in."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emergent.errors import ConfigError
from emergent.schema import normalize_category


class SourceConfig(BaseModel):
    """One corpus or file in the mixture.

    `format` is a generic format (alpaca, sharegpt, openai, prompt_completion) or a named corpus.
    `path`/`paths` are files, globs or folders (a Hugging Face dataset saved to disk); `hub` names a
    Hugging Face hub dataset instead. Inside a zip, `archive.zip!member.csv` picks one member.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    format: str
    path: str | None = None
    paths: list[str] | None = None
    hub: str | None = None
    hub_config: str | None = None
    split: str = "train"
    category: str | None = None
    license: str | None = None
    max_examples: int | None = Field(default=None, gt=0)
    column_map: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    # Filled by resolve_paths: concrete files or dataset folders, in a deterministic order.
    files: list[Path] = Field(default_factory=list, exclude=True)

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str | None) -> str | None:
        return normalize_category(v)

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        from emergent.data.formats import FORMATS

        if v not in FORMATS:
            raise ValueError(f"unknown format {v!r} — use one of: {', '.join(sorted(FORMATS))}")
        return v

    @model_validator(mode="after")
    def _known_options(self) -> SourceConfig:
        # An option a format does not read would otherwise change nothing, silently.
        from emergent.data.formats import Format

        module = Format(self.format).module
        known = tuple(getattr(module, "OPTIONS", ()))
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            takes = f"it takes {', '.join(known)}" if known else "it takes none"
            raise ValueError(f"source {self.name!r}: format {self.format!r} has no option(s) {unknown}; {takes}")
        if hasattr(module, "check_options"):
            module.check_options(self)
        return self

    @model_validator(mode="after")
    def _one_location(self) -> SourceConfig:
        given = [k for k in ("path", "paths", "hub") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"source {self.name!r} needs exactly one of path, paths or hub (got {given or 'none'})")
        if self.column_map:
            from emergent.data.formats.generic import DEFAULT_COLUMNS, check_column_map

            if self.format not in DEFAULT_COLUMNS:
                raise ValueError(
                    f"source {self.name!r}: column_map applies to generic formats ({', '.join(DEFAULT_COLUMNS)}), not {self.format!r}"
                )
            check_column_map(self.format, self.column_map)
        return self

    def resolve_paths(self, base_dir: Path, where: str) -> None:
        """Expand globs against `base_dir`; a missing file is a config error, found before any work."""
        if self.hub:
            return
        files: list[Path] = []
        for raw in self.paths or [self.path]:
            target, _, member = str(raw).partition("!")
            p = Path(target).expanduser()
            # Normalised (no "configs/../"), so the same file read through another config folder is the same
            # input: the stage fingerprints (run.py) hash these paths, and a changed one rebuilds the data.
            p = Path(os.path.normpath(p if p.is_absolute() else base_dir / p))
            if any(ch in target for ch in "*?["):
                matches = sorted(Path(m) for m in glob.glob(str(p)))
                if not matches:
                    raise ConfigError(
                        f"{where}: no file matches {raw!r} — check the path (relative to the config's folder)"
                    )
                files.extend(matches)
            elif not p.exists():
                raise ConfigError(
                    f"{where}: file not found: {p} — fix `path` (relative paths start at the config's folder)"
                )
            else:
                files.append(Path(f"{p}!{member}") if member else p)
        self.files = files


class IngestConfig(BaseModel):
    """How records are checked on the way in."""

    model_config = ConfigDict(extra="forbid")

    max_record_chars: int = Field(default=200_000, gt=0)
    persona_tags: Literal["strip", "quarantine"] = "strip"
    shard_size: int = Field(default=200_000, gt=0)
    raw_preview_chars: int = Field(default=2_000, gt=0)
