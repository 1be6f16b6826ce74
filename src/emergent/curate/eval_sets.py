"""The evaluation prompts training must not contain: the shipped suites, named evaluation sets, and the
evaluation part of sources that are themselves an evaluation split.

Two evaluation splits are also the only corpus of their kind here (NQ-open dev for factual questions,
hh-rlhf test for red-team dialogue). Sources listed in `curate.decontaminate.evaluation_parts` are
split by a stable hash of each record's first user turn (`in_evaluation_part`): one record in
EVALUATION_PART_EVERY goes to an evaluation part, never trained on and checked by decontamination;
the rest is the training part. The hash depends on the question alone, so the partition is the same
in every build, on every machine, and for an evaluation that reads the same file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from emergent.overlap import EvalSet
from emergent.schema import Conversation
from emergent.text import match_key

if TYPE_CHECKING:
    from emergent.config import RunConfig
    from emergent.curate.config import EvalSetConfig

SUITES_DIR = Path(__file__).resolve().parents[1] / "evaluate" / "suites"
# One question in five: ~720 NQ-open and ~460 hh-rlhf evaluation items, four fifths left to train on.
EVALUATION_PART_EVERY = 5
_PROMPT_KEYS = ("prompt", "question", "instruction", "text")
_FIRST_HUMAN = re.compile(r"Human:(.*?)(?:\n\nAssistant:|$)", re.S)


def in_evaluation_part(question: str) -> bool:
    """True for the questions of the evaluation part (case, spacing and punctuation do not matter)."""
    digest = hashlib.blake2b(match_key(question).encode(), digest_size=8, person=b"emergent-part").digest()
    return int.from_bytes(digest, "little") % EVALUATION_PART_EVERY == 0


def first_user_turn(conv: Conversation) -> str:
    return next((m.get("content") or "" for m in conv["messages"] if m["role"] == "user"), "")


def _strings(node: Any) -> Iterator[str]:
    """Every prompt/question/instruction/text string, user turn and `turns` entry anywhere in a parsed document."""
    if isinstance(node, dict):
        if node.get("role") == "user" and isinstance(node.get("content"), str):
            yield node["content"]
        turns = node.get("turns")
        if isinstance(turns, list) and all(isinstance(t, str) for t in turns):  # suite items, exported
            yield from turns
            node = {k: v for k, v in node.items() if k not in ("turns", "messages")}
        for key, value in node.items():
            if key in _PROMPT_KEYS and isinstance(value, str):
                yield value
            else:
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def read_prompts(path: Path, task_ids: tuple[int, int] | None = None) -> list[str]:
    """Prompts of a file: .yaml suites (every prompt and dialogue turn), .txt (one per line), or any
    format the readers know (.json, .jsonl, .gz, .csv...: prompt/question/instruction/text fields and
    user turns). `task_ids` keeps only rows whose integer task_id lies in [first, last]."""
    if path.suffix in (".yaml", ".yml"):
        return _suite_prompts(path)
    if path.suffix == ".txt":
        return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    from emergent.data.readers import BadRow, iter_rows

    out: list[str] = []
    for origin, row in iter_rows(path):
        if isinstance(row, BadRow):
            raise ValueError(f"{origin}: {row.reason} — fix the file or list a .txt with one prompt per line")
        if task_ids is not None:
            tid = row.get("task_id") if isinstance(row, dict) else None
            if not isinstance(tid, int) or not task_ids[0] <= tid <= task_ids[1]:
                continue
        out.extend(_strings(row))
    return out


def suite_prompts() -> list[str]:
    """Every user turn of every item of the shipped suite: checked items, prompts and dialogue turns."""
    from emergent.evaluate.suite import load_suite

    return [turn for item in load_suite(["default"]).items for turn in item.turns]


def _suite_prompts(path: Path) -> list[str]:
    """Every user turn of an evaluation suite file; other YAML: every prompt-like field and user turn."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and any(k in data for k in ("prompts", "consistency", "transitions")):
        from emergent.evaluate.suite import load_suite_file

        return [turn for item in load_suite_file(path).items for turn in item.turns]
    return list(_strings(data))


def _format_prompts(spec: EvalSetConfig, path: Path, cfg: RunConfig) -> list[str]:
    """The question (first user turn) of each row a reader makes of the file."""
    from emergent.data.config import SourceConfig

    source = SourceConfig(name=spec.name, format=spec.format, path=str(path), options=spec.options)
    source.resolve_paths(cfg.base_dir, f"curate.decontaminate.sets[{spec.name}]")
    return list(_questions(source))


def _questions(source: Any) -> Iterator[str]:
    """The question (first user turn) of every readable row of a source.

    Also of rows the reader rejects for their answer: hh-rlhf's red-team prompts whose "chosen" reply
    is harmful are never trained on, yet remain evaluation questions.
    """
    from emergent.data.formats import get_format
    from emergent.data.readers import BadRow

    fmt = get_format(source.format)
    for _origin, row in fmt.rows(source):
        if isinstance(row, BadRow):
            continue
        try:
            question = first_user_turn(fmt.convert(row, source))
        except Exception:  # a row the reader will quarantine: its question, where the row's shape gives one
            question = _transcript_question(row)
        if question:
            yield question


def evaluation_part_set(source: Any) -> EvalSet:
    """The evaluation part of a training source: the questions `in_evaluation_part` picks."""
    questions = [q for q in _questions(source) if in_evaluation_part(q)]
    return EvalSet(f"{source.name} (evaluation part)", ", ".join(str(f) for f in source.files), questions)


def _transcript_question(row: Any) -> str:
    """The first Human turn of an hh-rlhf style `chosen` transcript ("\n\nHuman: ...\n\nAssistant: ...")."""
    text = row.get("chosen") if isinstance(row, dict) else None
    found = _FIRST_HUMAN.search(text) if isinstance(text, str) else None
    return found.group(1).strip() if found else ""


def load_eval_sets(cfg: RunConfig) -> list[EvalSet]:
    """Every evaluation set `curate.decontaminate` names, in order: suites, files, sets, evaluation parts.

    A missing `files` entry is an error (you named it); a missing `sets` file is skipped with the
    reason, so a config can list public benchmarks that only some machines have.
    """
    dc = cfg.curate.decontaminate
    out: list[EvalSet] = []
    if dc.eval_suites:
        out.append(EvalSet("suite default", "the shipped evaluation suite (emergent.evaluate)", suite_prompts()))
        for path in sorted(SUITES_DIR.glob("*.yaml")):
            if path.name != "default.yaml":
                out.append(EvalSet(f"suite {path.stem}", str(path), read_prompts(path)))
    for f in dc.files:
        path = _resolve(cfg, f)
        if not path.is_file():
            raise FileNotFoundError(
                f"curate.decontaminate.files: {path} not found — fix the path (relative to the config)"
            )
        out.append(EvalSet(path.name, str(path), read_prompts(path)))
    for spec in dc.sets:
        path = _resolve(cfg, spec.path)
        if not path.exists():
            out.append(EvalSet(spec.name, str(path), [], skipped=f"file not found: {path}"))
        elif spec.format:
            out.append(EvalSet(spec.name, str(path), _format_prompts(spec, path, cfg)))
        else:
            out.append(EvalSet(spec.name, str(path), read_prompts(path, spec.task_ids)))
    by_name = {s.name: s for s in cfg.sources}
    for name in dc.evaluation_parts:
        if name in by_name:
            out.append(evaluation_part_set(by_name[name]))
        else:  # e.g. a config that extends corpora.yaml with fewer sources; a misspelt one trips evaluation_splits
            why = f"curate.decontaminate.evaluation_parts names {name!r}, which is not among the sources"
            out.append(EvalSet(f"{name} (evaluation part)", "", [], skipped=why))
    return out


def _resolve(cfg: RunConfig, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else cfg.base_dir / p


def evaluation_splits(cfg: RunConfig) -> list[str]:
    """The mixture's sources that train on a benchmark's evaluation split, each with what it is.

    Known splits: all of HumanEval, MBPP's test ids, NQ-open dev (the benchmark's de facto test set),
    and any file whose name says test. A source held out by `evaluation_parts` trains on its training
    part only and is not listed.
    """
    dc = cfg.curate.decontaminate
    held = set(dc.evaluation_parts) if dc.enabled else set()
    out = []
    for source in cfg.sources:
        if source.name not in held and (what := _evaluation_split(source)):
            out.append(f"source {source.name!r} trains on {what}")
    return out


def _evaluation_split(source: Any) -> str | None:
    if source.format == "humaneval":
        return "HumanEval, an evaluation benchmark (all of it): remove the source"
    if source.format == "mbpp":
        from emergent.data.formats.mbpp import splits

        if "test" in splits(source):
            return "MBPP's test split (task ids 11-510): drop `test` from options.splits"
    if source.hub:
        return f"the hub split {source.split!r}" if source.split in ("test", "validation", "dev") else None
    names = [str(f).partition("!")[0].rsplit("/", 1)[-1] for f in source.files]
    tokens = {t for name in names for t in _name_tokens(name)}
    if source.format == "nq_open" and tokens & {"dev", "test"}:
        return "NQ-open dev, the benchmark's evaluation split: list it in curate.decontaminate.evaluation_parts"
    tests = [name for name in names if "test" in _name_tokens(name)]
    if tests:
        return f"the test split {', '.join(tests)}: leave it out, or list the source in curate.decontaminate.evaluation_parts"
    return None


def _name_tokens(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower()))
