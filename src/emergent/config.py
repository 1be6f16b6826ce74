"""Typed configuration: YAML sets values, these models are the schema, unknown keys fail early.

Every section lives with its stage (data, curate, train, evaluate); `RunConfig` composes them.
`load_config` turns any validation problem into one ConfigError line naming file, key and fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from emergent.curate.config import CurateConfig
from emergent.data.config import IngestConfig, SourceConfig
from emergent.errors import ConfigError
from emergent.evaluate.config import EvalConfig
from emergent.train.config import ModelConfig, PeftSettings, TrainingConfig


class RunConfig(BaseModel):
    """The whole job: data sources, curation, model, adapter, curriculum training, evaluation."""

    model_config = ConfigDict(extra="forbid")

    name: str = "emergent"
    seed: int = 0
    output_dir: Path = Path("runs/emergent")
    sources: list[SourceConfig] = Field(default_factory=list)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    curate: CurateConfig = Field(default_factory=CurateConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    peft: PeftSettings = Field(default_factory=PeftSettings)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    # Set by load_config: the folder relative paths resolve against.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _training_phases_are_built(self) -> RunConfig:
        # Found here, not after a data build of hours: training reads one file per phase the build wrote.
        # Only for phases the config names itself: a data-only config with its own curate.phases is fine.
        if "phases" not in self.training.model_fields_set:
            return self
        built = [p.name for p in self.curate.phases]
        unknown = [p.name for p in self.training.phases if p.name not in built]
        if unknown:
            raise ValueError(
                f"training.phases names {unknown}, which the data build never writes (curate.phases: {built}) — "
                "give both lists the same phase names"
            )
        return self

    @model_validator(mode="after")
    def _prompt_dedup_sources_exist(self) -> RunConfig:
        wanted = self.curate.prompt_dedup.sources or []
        names = [s.name for s in self.sources]
        unknown = [w for w in wanted if w not in names]
        if unknown and self.sources:
            raise ValueError(f"curate.prompt_dedup.sources names {unknown}, which are not among the sources {names}")
        return self


def _format_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _error_lines(path: Path, err: ValidationError) -> str:
    """Every problem of the config, one line each: a user fixes them in one pass, not one run per typo."""
    lines = []
    for e in err.errors():
        where = _format_location(e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key '{where}' — remove it or check its spelling against configs/seed.yaml")
        else:
            lines.append(f"{path}: {where}: {e['msg'].removeprefix('Value error, ')}")
    return "\n".join(dict.fromkeys(lines))


def parse_config(data: dict[str, Any], path: Path) -> RunConfig:
    """Validate a mapping read from `path`; relative paths resolve against the file's folder."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    try:
        cfg = RunConfig.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as err:
        raise ConfigError(_error_lines(path, err)) from None
    cfg.base_dir = path.parent.resolve()
    if not cfg.output_dir.is_absolute():
        cfg.output_dir = (Path.cwd() / cfg.output_dir).resolve()
    for i, src in enumerate(cfg.sources):
        src.resolve_paths(cfg.base_dir, where=f"{path}: sources[{i}] ({src.name})")
    names = [s.name for s in cfg.sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: sources: name {dupes[0]!r} is used twice — give each source a unique name")
    return cfg


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found — pass a YAML file such as configs/quickstart.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: not valid YAML ({getattr(err, 'problem', err)}) — fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; lists and values in `override` replace the base's."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_config_data(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config may start from another (`extends: corpora.yaml`) and override any section of it."""
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    base_path = (path.parent / parent).resolve()
    if base_path in seen:
        raise ConfigError(f"{path}: extends: {parent} forms a cycle — remove one of the `extends` keys")
    base = read_config_data(base_path, (*seen, path.resolve()))
    # Source paths in the base file are relative to the base file, not to the extending one.
    for src in base.get("sources") or []:
        for key in ("path", "paths"):
            if isinstance(src, dict) and src.get(key):
                values = src[key] if isinstance(src[key], list) else [src[key]]
                absolute = [v if Path(v).is_absolute() else str(base_path.parent / v) for v in values]
                src[key] = absolute if isinstance(src[key], list) else absolute[0]
    return _merge(base, data)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config; fail with one clear line before any work is done."""
    path = Path(path)
    return parse_config(read_config_data(path), path)
