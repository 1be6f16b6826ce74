"""A study: one data build, several trainings (variants x seeds), every run evaluated on the same items.

Layout under the config's output_dir:

    data/                      built once (its own stages.json entry)
    runs/<variant>-seed<k>/    a complete run folder each: data -> ../../data, train/, eval/, report.html
    cache/generations/         base and prompted replies, generated once and reused by every run
    compare/                   `emergent compare` over the runs: compare.json, compare.md, compare.html

Rerunning the same command continues where it stopped: finished stages are reused, an interrupted
training resumes from its last checkpoint, an interrupted evaluation reuses the sides it finished.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergent.config import RunConfig, parse_config, read_config_data
from emergent.errors import ConfigError
from emergent.run import RunOutcome, run_pipeline
from emergent.study_config import StudyConfig, VariantConfig


@dataclass
class Member:
    """One training of the study: a variant at one seed, in its own run folder."""

    variant: str
    seed: int
    cfg: RunConfig

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.output_dir)


@dataclass
class StudyOutcome:
    root: Path
    data: RunOutcome
    members: list[tuple[Member, RunOutcome]] = field(default_factory=list)
    compare_dir: Path | None = None
    compare_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.data.ok and all(o.ok for _, o in self.members) and self.compare_error is None


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    *parents, last = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"study: cannot set {key}: {p} is not a section")
    node[last] = value


def plan(path: Path, seeds: list[int] | None = None, output_dir: Path | None = None) -> tuple[RunConfig, list[Member]]:
    """The study's own config (data build, output folder) and one member config per variant and seed.

    `seeds` (from `--seeds`) replaces every variant's seeds. A config without a `study:` section is one
    variant, named after the config, trained at each of `seeds`.
    """
    raw = read_config_data(path)
    root_cfg = parse_config(copy.deepcopy(raw), path)
    if output_dir is not None:
        root_cfg.output_dir = Path(output_dir).resolve()
    study = root_cfg.study or StudyConfig(variants=[VariantConfig(name=_slug(root_cfg.name))])
    root = Path(root_cfg.output_dir)
    members = []
    for v in study.variants:
        for seed in seeds or v.seeds or study.seeds:
            data = copy.deepcopy(raw)
            data.pop("study", None)
            for key, value in v.set.items():
                _set_dotted(data, key, value)
            _set_dotted(data, "training.seed", seed)
            _set_dotted(data, "eval.generation_cache", str(root / "cache" / "generations"))
            data["output_dir"] = str(root / "runs" / f"{v.name}-seed{seed}")
            data["name"] = f"{root_cfg.name}/{v.name}-seed{seed}"
            try:
                members.append(Member(v.name, seed, parse_config(data, path)))
            except ConfigError as err:
                raise ConfigError(f"study variant {v.name!r}: {err}") from None
    return root_cfg, members


def _slug(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name.lower()).strip("-.")
    return out or "run"


def _link_data(member: Member, data_dir: Path) -> None:
    """RUN/runs/<name>/data -> the shared build, so every run folder reads like a complete run."""
    link = member.run_dir / "data"
    member.run_dir.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or not link.exists():
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(data_dir, member.run_dir), target_is_directory=True)
    elif link.resolve() != data_dir.resolve():
        raise FileExistsError(f"{link} is a folder of its own, not the study's data build — remove it")


def run_study(
    root_cfg: RunConfig,
    members: list[Member],
    *,
    skip: set[str] = frozenset(),
    fresh: bool = False,
    resume: bool = False,
    show_progress: bool = True,
    on_stage: Callable[[str, str], None] | None = None,
    on_member: Callable[[Member], None] | None = None,
) -> StudyOutcome:
    """Build the data once, then train and evaluate each member, then compare them all."""
    root = Path(root_cfg.output_dir)
    data = run_pipeline(
        root_cfg,
        skip=skip,
        stages=("data",),
        fresh=fresh,
        show_progress=show_progress,
        on_stage=on_stage,
        report=False,
    )
    outcome = StudyOutcome(root, data)
    if not data.ok:
        return outcome
    data_rebuilt = any(s.name == "data" and s.status == "ran" for s in data.stages)
    for m in members:
        if on_member:
            on_member(m)
        _link_data(m, root / "data")
        result = run_pipeline(
            m.cfg,
            skip=skip,
            stages=("train", "eval"),
            fresh=fresh or data_rebuilt,
            resume=resume,
            show_progress=show_progress,
            on_stage=on_stage,
        )
        outcome.members.append((m, result))
    evaluated = [m.run_dir for m, o in outcome.members if (m.run_dir / "eval" / "eval.json").is_file()]
    if len(evaluated) >= 1 and "eval" not in skip:
        outcome.compare_dir, outcome.compare_error = _compare(evaluated, root / "compare", root_cfg)
    return outcome


def _compare(run_dirs: list[Path], out: Path, root_cfg: RunConfig) -> tuple[Path | None, str | None]:
    from emergent.evaluate.compare import CompareError, compare_runs
    from emergent.report.compare_page import write_comparison

    reference = root_cfg.study.reference if root_cfg.study else "base"
    try:
        comparison = compare_runs(run_dirs, reference, samples=root_cfg.eval.bootstrap_samples, seed=root_cfg.seed)
    except CompareError as err:
        return None, str(err)
    write_comparison(comparison, out)
    return out, None
