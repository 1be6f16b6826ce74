"""Code Alpaca (sahil280114/codealpaca): alpaca-style JSON of programming instructions.

new_codealpaca.json also has a `response` column identical to `output`; `output` is used.
Outputs are bare code ("def f(x):\\n    return x"); a reply that is code is put in a fenced block
named after its language, as a chat model is expected to answer. Outputs that are prose, a value
("7") or already fenced are kept as written.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from emergent.data.formats import generic

CATEGORY = "technical"
LICENSE = "CC-BY-NC-4.0"

# Language named in the instruction -> fence tag; checked in order, so "JavaScript" wins over "Java".
_NAMED = (
    ("javascript", "javascript"),
    ("node.js", "javascript"),
    ("typescript", "typescript"),
    ("java", "java"),
    ("c++", "cpp"),
    ("c#", "csharp"),
    ("sql", "sql"),
    ("mysql", "sql"),
    ("html", "html"),
    ("css", "css"),
    ("php", "php"),
    ("ruby", "ruby"),
    ("swift", "swift"),
    ("kotlin", "kotlin"),
    ("rust", "rust"),
    ("bash", "bash"),
    ("shell", "bash"),
    ("golang", "go"),
    ("perl", "perl"),
    ("visual basic", "vbnet"),
    ("objective-c", "objectivec"),
    ("react", "jsx"),
    ("jquery", "javascript"),
    ("ajax", "javascript"),
    ("web page", "html"),
    ("webpage", "html"),
    ("python", "python"),
)
# Code whose language the instruction does not name, recognised by how it starts.
_OPENINGS = (
    (re.compile(r"^#include\b"), "c"),
    (re.compile(r"^(?:<!DOCTYPE|<html|<div|<form|<table|<ul|<p>|<h\d)", re.I), "html"),
    (re.compile(r"^#!/bin/(?:ba)?sh"), "bash"),
    (re.compile(r"^(?:SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE (?:TABLE|DATABASE|INDEX|VIEW))\b", re.I), "sql"),
    (re.compile(r"^(?:function\b|const |let |var |console\.log|\$\(|\$\.|document\.)"), "javascript"),
    (re.compile(r"^(?:public |private |class \w+\s*\{)"), "java"),
)
_CODE_SHAPE = re.compile(r"[=;{}()\[\]<>]|\b(def|return|import|class|for|while|if|print|SELECT|function)\b")
_PYTHON_SHAPE = re.compile(r"[=(\[{:]|\b(def|import|return|class|lambda|print)\b")


def code_language(instruction: str, output: str) -> str | None:
    """The fence tag for an output that is code, or None for prose, values and fenced replies."""
    text = output.strip()
    opening = next((tag for pattern, tag in _OPENINGS if pattern.search(text)), None)
    if not text or "```" in text or not (_CODE_SHAPE.search(text) or opening):
        return None
    asked = instruction.lower()
    named = next((tag for word, tag in _NAMED if re.search(rf"(?<![\w+#.]){re.escape(word)}(?![\w+#])", asked)), None)
    if named is None and re.search(r"(?<![\w+#.])C(?![\w+#])", instruction):
        named = "c"
    if named not in (None, "python"):
        # Prose answers about a language ("Java is a ...") end with a full stop and have no code lines.
        looks_like_code = "\n" in text or text.endswith((";", "}", ">")) or not text.endswith(".")
        return named if looks_like_code else None
    if opening:  # a shebang or "#include" line is also a Python comment
        return opening
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    return "python" if _PYTHON_SHAPE.search(text) else None


def convert(row: dict, source: Any) -> dict:
    conv = generic.convert(row, source, flavour="alpaca")
    reply = conv["messages"][-1]
    language = code_language(str(row.get("instruction") or ""), reply["content"])
    if language:
        reply["content"] = f"```{language}\n{reply['content'].strip()}\n```"
    return conv
