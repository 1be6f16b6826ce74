"""Render every config key as markdown: `python -m emergent.config_docs > docs/configuration.md`.

Read from the pydantic models at run time (RunConfig and every section it holds), so the page follows
the code: a key's description is its Field description, else the comments written beside or above it
in the model's source, and each section opens with its model's docstring.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import sys
import textwrap
import tokenize
import types
from functools import cache
from pathlib import PurePath
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from emergent.config import RunConfig

REGENERATE = "python -m emergent.config_docs > docs/configuration.md"

HEADER = f"""# Configuration reference

Every key a config file may set, section by section, with its type, the value it takes when a config
leaves it out, and what it does. Unknown keys fail before any work. `configs/seed.yaml` sets the seed's
values in full; `configs/quickstart.yaml` is the small CPU default.

Two keys are read before these: `extends: FILE` starts from another config (its sections merge
key by key; a list, `sources` included, replaces the base's), and `source_overrides: {{NAME: {{key:
value}}}}` changes one inherited source in place, e.g. `{{ibm_debater_argq: {{options: {{rows_per_topic:
8}}}}}}`, and `drop_sources: [NAME, ...]` leaves inherited sources out.

Generated from the pydantic models (`RunConfig` in `src/emergent/config.py` and the sections it holds)
by `{REGENERATE}`; do not edit by hand.
"""


def _section_model(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model a field holds and the suffix its key takes: `` (one), `[]` (a list), `.<name>` (a mapping)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _section_model(inner[0]) if len(inner) == 1 else None
    if origin is list and args:
        found = _section_model(args[0])
        return (found[0], "[]") if found and not found[1] else None
    if origin is dict and len(args) == 2:
        found = _section_model(args[1])
        return (found[0], ".<name>") if found and not found[1] else None
    return None


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_type_name(args[0])} → {_type_name(args[1])}" if args else "mapping"
    if origin is tuple:
        return f"[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return {str: "string", int: "integer", float: "number", bool: "boolean", Any: "any"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", "≥"), (at.Lt, "lt", "<"), (at.Le, "le", "≤"))


def _constraints(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(meta, kind):
                parts.append(f"{sign} {getattr(meta, attr)}")
        if isinstance(meta, at.MinLen):
            parts.append(f"at least {meta.min_length}")
        if isinstance(meta, at.MaxLen):
            parts.append(f"at most {meta.max_length}")
    return ", ".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {k: _plain(v) for k, v in value.model_dump(exclude_defaults=False).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return value


def _flow(value: Any) -> str:
    """A value as it is written in YAML's flow style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value and re.fullmatch(r"[\w./:@+-]+", value) and not value[0].isdigit() else f'"{value}"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)


def _default(field: FieldInfo, section: tuple[type[BaseModel], str] | None) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if section and isinstance(value, BaseModel):
        return "—"
    if section and isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        names = [getattr(v, "name", None) for v in value]
        if all(names):
            return f"{len(value)} entries: " + ", ".join(f"`{n}`" for n in names)
        return f"{len(value)} entries"
    return f"`{_flow(_plain(value))}`"


@cache
def _source_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comments in the model's source: the block just above it, then any on its own lines."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    out: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line in comments and line not in code_lines:
            above.insert(0, comments[line])
            line -= 1
        # A comment inside a multi-line value describes one of its elements, not the key.
        beside = [comments[n] for n in dict.fromkeys((node.lineno, node.end_lineno)) if n in comments]
        text = " ".join(above + beside)
        if text:
            out[node.target.id] = text
    return out


def _docstring(model: type[BaseModel]) -> str:
    """The model's own docstring (not BaseModel's, which a class without one inherits)."""
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else ""


def _description(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    """The Field description, else the source comments, else the first sentence of a section's docstring."""
    section = _section_model(field.annotation)
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, BaseModel) and name in inspect.get_annotations(cls):
            found = field.description or _source_comments(cls).get(name, "")
            if found:
                return found.strip()
    if field.description:
        return field.description.strip()
    doc = _docstring(section[0]) if section else ""
    return re.split(r"(?<=\.)\s+(?=[A-Z])", " ".join(doc.split()), maxsplit=1)[0]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _sections(model: type[BaseModel], key: str) -> list[tuple[str, type[BaseModel]]]:
    """(key, model) for this section and every section below it, depth first in field order."""
    out = [(key, model)]
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        found = _section_model(field.annotation)
        if found:
            child = f"{key}.{name}" if key else name
            out += _sections(found[0], child + found[1])
    return out


def _render_section(key: str, model: type[BaseModel]) -> str:
    title = key or "Top level"
    lines = [f"## {title}", ""]
    if doc := _docstring(model):
        lines += [" ".join(p.split()) + "\n" for p in doc.split("\n\n")]
    if key.endswith("[]"):
        lines += ["A list; each entry has these keys.", ""]
    elif key.endswith(".<name>"):
        lines += ["A mapping; each value has these keys.", ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        section = _section_model(field.annotation)
        if section:
            child = (f"{key}.{name}" if key else name) + section[1]
            kind = {"": "section", "[]": "list of entries", ".<name>": "mapping of entries"}[section[1]]
            type_text = f"[{kind}](#{_slug(child)})"
        else:
            type_text = _type_name(field.annotation)
            if bounds := _constraints(field):
                type_text += f" ({bounds})"
        lines.append(
            f"| `{name}` | {_cell(type_text)} | {_cell(_default(field, section))} | "
            f"{_cell(_description(model, name, field))} |"
        )
    return "\n".join(lines) + "\n"


def _render_reader_options() -> str:
    """Each format's `options:` keys (its module's OPTIONS), so the reference lists what a reader takes."""
    from emergent.data.formats import FORMATS, Format

    lines = [
        "## Reader options",
        "",
        "What `sources[].options` (and `curate.decontaminate.sets[].options`) may set, per format; a key a "
        "format does not take fails when the config loads. Formats not listed take none.",
        "",
        "| format | option | what it does |",
        "|---|---|---|",
    ]
    for name in sorted(FORMATS):
        for option, what in getattr(Format(name).module, "OPTIONS", {}).items():
            lines.append(f"| `{name}` | `{option}` | {_cell(what)} |")
    return "\n".join(lines) + "\n"


def render(model: type[BaseModel] = RunConfig) -> str:
    """The configuration reference as markdown, one section per model, then the readers' options."""
    parts = [HEADER]
    for key, section in _sections(model, ""):
        parts.append(_render_section(key, section))
    parts.append(_render_reader_options())
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
