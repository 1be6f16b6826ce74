"""docs/configuration.md is generated from the config models and must not drift from them."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from emergent.config import RunConfig
from emergent.config_docs import REGENERATE, _section_model, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_configuration_doc_is_up_to_date():
    assert DOC.is_file(), f"{DOC} is missing — run `{REGENERATE}`"
    assert DOC.read_text(encoding="utf-8") == render(), (
        f"docs/configuration.md differs from the config models — run `{REGENERATE}` and commit the result"
    )


def _keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        out.append((prefix or "Top level", name))
        if found := _section_model(field.annotation):
            out += _keys(found[0], f"{prefix}.{name}{found[1]}" if prefix else f"{name}{found[1]}")
    return out


def test_every_key_has_a_row_in_its_section():
    text = render()
    sections = {block.split("\n", 1)[0]: block for block in text.split("\n## ")[1:]}
    for section, key in _keys(RunConfig):
        assert section in sections, f"no section {section!r}"
        assert f"| `{key}` |" in sections[section], f"{section}: no row for {key!r}"


def test_source_comments_become_descriptions():
    class Example(BaseModel):
        """An example section."""

        # Above the key,
        # on two lines.
        first: int = 1
        second: str = "x"  # beside the key

        third: list[str] = []

    text = render(Example)
    assert "| `first` | integer | `1` | Above the key, on two lines. |" in text
    assert "| `second` | string | `x` | beside the key |" in text
    assert "| `third` | list of string | `[]` |  |" in text
    assert "An example section." in text
