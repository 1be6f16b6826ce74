"""The package's import graph points one way: ingest → curate → train → evaluate → report, over a shared
language-model layer (lm/) and a few leaf modules, with the job (run.py, study.py, chat.py, the CLI) on top.

Every module under src/emergent is parsed (imports inside functions included) and each import of another
part checked against ALLOWED; the few imports outside it are listed in EXCEPTIONS with their reason.
No module imports another part's private names (`from x import _y`, or a module `_y`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "emergent"

# Modules everyone may import: the record, errors, progress bars, extras' messages, the typed records
# the stages hand each other, what "the same text" means, and the evaluation-prompt overlap rule.
LEAVES = {"schema", "errors", "progress", "extras", "handoff", "text", "overlap"}
# The run's typed config (config.py composes every stage's `<stage>/config.py`; study_config.py its study:).
CONFIG = {"config", "study_config"}
# The job on top: they wire the stages together and may import anything.
TOP = {"__init__", "__main__", "cli", "run", "run_cli", "chat", "study", "config_docs"}
PACKAGES = {"data", "curate", "lm", "train", "evaluate", "report"}

ALLOWED: dict[str, set[str]] = {
    "leaf": set(),  # leaves import only leaves
    "config": {"config"},  # and each stage's own config module (see `allowed`)
    "lm": set(),
    "data": {"config", "lm"},  # lm: `emergent data preview --rendered` shows the training text
    "curate": {"config", "data"},
    "train": {"config", "data", "lm"},
    "evaluate": {"config", "data", "lm"},
    "report": set(),  # reads a run's files; the typed records and constants it needs are in EXCEPTIONS
}

# (importer, imported module): (names, or None for any; why)
EXCEPTIONS: dict[tuple[str, str], tuple[set[str] | None, str]] = {
    ("emergent.curate.eval_sets", "emergent.evaluate.suite"): (
        {"load_suite", "load_suite_file"},
        "decontamination drops what the evaluation asks, and the suite's loader is the one definition of "
        "those prompts; one way only: evaluate imports nothing from curate (the shared rule is overlap.py)",
    ),
    ("emergent.curate.window", "emergent.lm.render"): (
        {"tools_as_text", "tools_block"},
        "the window estimates the length of the text the template fallback renders (tools as text), "
        "without a tokenizer",
    ),
    ("emergent.report.compare_page", "emergent.evaluate.compare"): (
        {"Comparison", "Difference", "Figure", "SeedGroup", "SystemFigures"},
        "typed records: the comparison the page renders",
    ),
    ("emergent.report.model_card", "emergent.lm.registry"): (
        {"EMBEDDED_DEFAULT", "EMBEDDED_UPSTREAM"},
        "constants: the embedded default's local and hub names, for the card's base-model line",
    ),
    ("emergent.report.source_examples", "emergent.data.store"): (
        {"row_to_conversation"},
        "reads the build's parquet rows back into records the way data wrote them",
    ),
}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported from (a submodule where `from package import module`)
    names: tuple[str, ...]
    path: Path
    line: int

    def __str__(self) -> str:
        where = f"{self.path.relative_to(SRC.parents[1])}:{self.line}"
        return f"{where}: {self.importer} imports {', '.join(self.names) or '(module)'} from {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def imports() -> list[Import]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        importer = module_name(path)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out += [Import(importer, a.name, (), path, node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                submodules = [a.name for a in node.names if is_module(f"{base}.{a.name}")]
                out += [Import(importer, f"{base}.{name}", (), path, node.lineno) for name in submodules]
                names = tuple(a.name for a in node.names if a.name not in submodules)
                if names or not submodules:
                    out.append(Import(importer, base, names, path, node.lineno))
    return [i for i in out if i.target == "emergent" or i.target.startswith("emergent.")]


def part(module: str) -> str:
    """The package a module belongs to (data, curate, ...), else leaf, config or top."""
    first = module.split(".")[1] if "." in module else "__init__"
    if first in PACKAGES:
        return first
    if first in LEAVES:
        return "leaf"
    if first in CONFIG:
        return "config"
    if first in TOP:
        return "top"
    raise AssertionError(f"{module}: a top-level module in no group — add it to LEAVES, CONFIG or TOP")


def allowed(imp: Import) -> bool:
    source, target = part(imp.importer), part(imp.target)
    if source in ("top", target) or target == "leaf":
        return True
    if source == "config" and imp.target.rsplit(".", 1)[-1] == "config":
        return True  # config.py composes each stage's config section
    if target in ALLOWED[source]:
        return True
    names, _why = EXCEPTIONS.get((imp.importer, imp.target), (set(), ""))
    return names is None or bool(imp.names) and set(imp.names) <= names


def test_every_top_level_module_has_a_group():
    for path in SRC.glob("*.py"):
        part(module_name(path))


def test_imports_follow_the_allowed_directions():
    wrong = [str(i) for i in imports() if not allowed(i)]
    assert not wrong, (
        "imports against the graph (tests/test_import_graph.py ALLOWED; move the shared piece to where "
        "both may import it, or list the import in EXCEPTIONS with its reason):\n  " + "\n  ".join(wrong)
    )


def test_no_import_of_another_parts_private_names():
    wrong = []
    for i in imports():
        if part(i.importer) == part(i.target) and part(i.importer) in PACKAGES:
            continue
        private_module = any(p.startswith("_") and not p.startswith("__") for p in i.target.split("."))
        if private_module or any(n.startswith("_") for n in i.names):
            wrong.append(str(i))
    assert not wrong, "private names imported from another part (make them public there):\n  " + "\n  ".join(wrong)


def test_every_exception_is_still_used():
    used = {(i.importer, i.target) for i in imports()}
    stale = [f"{a} -> {b}" for a, b in EXCEPTIONS if (a, b) not in used]
    assert not stale, "EXCEPTIONS no longer needed (remove them):\n  " + "\n  ".join(stale)
