"""Typed configuration: YAML sets values, these models are the schema, unknown keys fail early.

Every section lives with its stage (data, curate, train, evaluate); `RunConfig` composes them. The
curriculum is here because two stages read it: the data build (which buckets each phase holds) and
training (each phase's rate and limits). `load_config` turns every validation problem into one
ConfigError line naming file, key and fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from emergent.curate.config import CurateConfig
from emergent.data.config import IngestConfig, SourceConfig
from emergent.errors import ConfigError
from emergent.evaluate.config import EvalConfig
from emergent.lm.config import ModelConfig
from emergent.schema import normalize_category
from emergent.study_config import StudyConfig
from emergent.train.config import PeftSettings, TrainingConfig

# The seed's curriculum, the default of every config without a `curriculum:` section.
DEFAULT_CURRICULUM = Path(__file__).with_name("curriculum.yaml")
ALL = "all"


class Phase(BaseModel):
    """One curriculum phase: the data build writes its buckets' kept conversations to
    RUN/data/phases/<name>.parquet; training gives it its own warmup + cosine schedule."""

    model_config = ConfigDict(extra="forbid")

    name: str  # its data file: RUN/data/phases/<name>.parquet (unique)
    categories: list[str]  # the buckets it holds, or `all` (in YAML: `categories: all`)
    learning_rate: float = Field(gt=0)  # the schedule's peak, times training.lr_scale
    epochs: float | None = Field(default=None, gt=0)  # None: training.epochs_per_phase
    max_steps: int | None = Field(default=None, gt=0)  # None: training.max_steps_per_phase
    max_examples: int | None = Field(default=None, gt=0)  # None: training.max_examples_per_phase

    @field_validator("name")
    @classmethod
    def _file_name(cls, v: str) -> str:
        if not v or v.startswith(".") or any(c in v for c in "/\\:"):
            raise ValueError(f"{v!r} cannot name a file (phases/<name>.parquet) — use letters, digits, _ and -")
        return v

    @field_validator("categories", mode="before")
    @classmethod
    def _all(cls, v: Any) -> Any:
        return [ALL] if v == ALL else v

    @field_validator("categories")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("no categories — list the buckets the phase trains on, or write `categories: all`")
        if ALL in v:
            if len(v) > 1:
                raise ValueError(f"{v}: `all` is every bucket already — write `categories: all` alone")
            return v
        return [normalize_category(c) for c in v]

    @property
    def every_bucket(self) -> bool:
        return self.categories == [ALL]


def _repeated_name(index: int, name: str) -> dict[str, Any]:
    """The validation error of a phase whose name an earlier phase has."""
    message = "phase '{name}' is listed twice — give each phase a unique name"
    return {
        "type": PydanticCustomError("phase_repeated", message, {"name": name}),
        "loc": (index, "name"),
        "input": name,
    }


def _default_phases() -> list[Phase]:
    return CurriculumConfig.model_validate(yaml.safe_load(DEFAULT_CURRICULUM.read_text(encoding="utf-8"))).phases


class CurriculumConfig(BaseModel):
    """The phases, in training order; read by the data build (buckets) and by training (rates, limits).
    A config's list replaces the seed's (src/emergent/curriculum.yaml) whole."""

    model_config = ConfigDict(extra="forbid")

    # In training order; the default is the seed's five (src/emergent/curriculum.yaml).
    phases: list[Phase] = Field(default_factory=_default_phases)

    @field_validator("phases", mode="wrap")
    @classmethod
    def _unique_names(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[Phase]:
        # Names are compared on the raw list, so a repeat is reported beside the phases' own errors.
        if value == []:
            raise ValueError("no phases — list at least one phase with a name, categories and a learning_rate")
        names = [p.get("name") if isinstance(p, dict) else getattr(p, "name", None) for p in value] \
            if isinstance(value, list) else []  # fmt: skip
        repeated = [_repeated_name(i, n) for i, n in enumerate(names) if isinstance(n, str) and n in names[:i]]
        try:
            phases = handler(value)
        except ValidationError as err:
            if not repeated:
                raise
            own = [{k: e[k] for k in ("type", "loc", "input", "ctx") if k in e} for e in err.errors()]
            raise ValidationError.from_exception_data(err.title, [*own, *repeated]) from None
        if repeated:
            raise ValidationError.from_exception_data(cls.__name__, repeated)
        return phases

    def scaled(self, lr_scale: float) -> list[Phase]:
        """The phases at the rates they train at: each learning_rate times lr_scale."""
        return [p.model_copy(update={"learning_rate": p.learning_rate * lr_scale}) for p in self.phases]


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
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    study: StudyConfig | None = None  # several trainings (variants x seeds) on one data build: emergent/study.py

    # Set by load_config: the folder relative paths resolve against.
    base_dir: Path = Field(default=Path("."), exclude=True)

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


# The phase lists of the sections that each had one; both are now the one `curriculum.phases`.
_MOVED_TO_CURRICULUM = ("curate.phases", "training.phases")


def _error_lines(path: Path, err: ValidationError) -> str:
    """Every problem of the config, one line each: a user fixes them in one pass, not one run per typo."""
    lines = []
    moved = [_format_location(e["loc"]) for e in err.errors() if _format_location(e["loc"]) in _MOVED_TO_CURRICULUM]
    if moved:
        lines.append(
            f"{path}: {' and '.join(moved)}: the curriculum is one list now — move the phases to "
            "curriculum.phases, each {name, categories, learning_rate} (src/emergent/curriculum.yaml holds the seed's)"
        )
    for e in err.errors():
        where = _format_location(e["loc"])
        if where in _MOVED_TO_CURRICULUM:
            continue
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
    overrides = data.pop("source_overrides", None)
    dropped = data.pop("drop_sources", None)
    if parent is None:
        return _drop_sources(_override_sources(data, overrides, path), dropped, path)
    base_path = (path.parent / parent).resolve()
    if base_path in seen:
        raise ConfigError(f"{path}: extends: {parent} forms a cycle — remove one of the `extends` keys")
    base = read_config_data(base_path, (*seen, path.resolve()))
    # Source paths in the base file are relative to the base file, not to the extending one.
    for src in base.get("sources") or []:
        for key in ("path", "paths"):
            if isinstance(src, dict) and src.get(key):
                values = src[key] if isinstance(src[key], list) else [src[key]]
                absolute = [v if Path(v).is_absolute() else os.path.normpath(base_path.parent / v) for v in values]
                src[key] = absolute if isinstance(src[key], list) else absolute[0]
    return _drop_sources(_override_sources(_merge(base, data), overrides, path), dropped, path)


def _drop_sources(data: dict[str, Any], dropped: Any, path: Path) -> dict[str, Any]:
    """`drop_sources: [NAME, ...]` removes inherited sources, so an ablation leaves one corpus out
    without copying the whole list; a name that is not a source fails (a typo would otherwise keep it)."""
    if dropped is None:
        return data
    if not isinstance(dropped, list) or not all(isinstance(n, str) for n in dropped):
        raise ConfigError(f"{path}: drop_sources must be a list of source names")
    names = {s.get("name") for s in data.get("sources") or [] if isinstance(s, dict)}
    unknown = sorted(set(dropped) - names)
    if unknown:
        raise ConfigError(f"{path}: drop_sources names {unknown}, which are not among the sources {sorted(names)}")
    data["sources"] = [s for s in data["sources"] if not (isinstance(s, dict) and s.get("name") in dropped)]
    if not data["sources"]:
        raise ConfigError(f"{path}: drop_sources removes every source — nothing would be left to train on")
    return data


def _override_sources(data: dict[str, Any], overrides: Any, path: Path) -> dict[str, Any]:
    """`source_overrides: {NAME: {key: value}}` changes one source of the (inherited) list in place.

    `sources:` in an extending config replaces the whole list, so without this a config that wants
    one corpus read differently (more rows, other options) would have to copy all of them.
    """
    if overrides is None:
        return data
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ConfigError(f"{path}: source_overrides must map a source name to the keys it changes")
    sources = {s.get("name"): s for s in data.get("sources") or [] if isinstance(s, dict)}
    unknown = sorted(set(overrides) - set(sources))
    if unknown:
        raise ConfigError(
            f"{path}: source_overrides names {unknown}, which are not among the sources {sorted(sources)}"
        )
    for name, change in overrides.items():
        if "name" in change:
            raise ConfigError(f"{path}: source_overrides.{name} cannot rename a source")
        sources[name].update(_merge(sources[name], change))
    return data


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config; fail with one clear line before any work is done."""
    path = Path(path)
    return parse_config(read_config_data(path), path)
