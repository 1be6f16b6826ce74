"""MedQuAD (abachaa/MedQuAD): consumer-health questions answered by NIH web pages, one XML document per page.

One row per QAPair: the Question -> the user turn, the Answer -> the reply. Sources are the shared
tarball (`.tar.gz` of the XML folders), loose `.xml` files, or folders of them. The answers keep the
web page's layout as whitespace: indented lines, and bullet lists flattened into one line as
"text    - item    - item". `readable` turns that back into paragraphs and "- item" lines, and
drops what the page printed twice: a list repeated as one run-on sentence after it ("- coma  - death.
coma death."), and items or sentences repeated in a row (NIHSeniorHealth). The
question templates ("What are the treatments for X ?") repeat across hundreds of diseases and are
kept as they are: the focus (X) makes each question distinct, and the answers differ. A template
whose focus slot is empty in the source ("How to prevent  ?") asks nothing and is quarantined.
The UMLS annotations, qtype and URL are metadata, not text.
"""

from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emergent.data.formats._common import field, pair
from emergent.data.readers import BadRow, Row
from emergent.errors import Reject

CATEGORY = "specialized"
LICENSE = "CC-BY-4.0"

# A template with nothing in the focus slot: "What is (are)  ?", "Who is at risk for? ?", "How to prevent  ?".
EMPTY_FOCUS = re.compile(r"(?:\(are\)|\bfor|\bof|\bprevent|\bdiagnose|\bcauses|\bby)\?$", re.IGNORECASE)
# Two or more blanks: the seams the page's layout left between paragraphs, sentences and list items.
SEAM = re.compile(r"\s{2,}")
# A dash after a sentence's end starts an item where the page lost the seams ("help. - Meal services ...").
SENTENCE_DASH = re.compile(r"(?<=[.:!?]) - (?=\S)")
# Where a sentence may start: after a sentence's end, or after a seam ("Help:    - Aides come.").
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s{2,}")


def rows(source: Any) -> Iterator[Row]:
    for path in source.files:
        path = Path(path)
        if path.is_dir():
            for xml in sorted(path.rglob("*.xml")):
                yield from _document(xml.read_bytes(), str(xml.relative_to(path.parent)))
        elif path.name.endswith((".tar.gz", ".tgz", ".tar")):
            # Streamed in archive order: random access into a gzip stream would re-read it per member.
            with tarfile.open(path, "r|*") as tar:
                for member in tar:
                    if member.isfile() and member.name.endswith(".xml"):
                        data = tar.extractfile(member).read()
                        yield from _document(data, f"{path.name}!{member.name}")
        else:
            yield from _document(path.read_bytes(), path.name)


def _document(data: bytes, label: str) -> Iterator[Row]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        yield label, BadRow(label, "malformed_xml", f"{err}: {data[:1500].decode('utf-8', 'replace')}")
        return
    pairs = root.findall("./QAPairs/QAPair")
    if not pairs:
        yield label, BadRow(label, "no_qa_pairs", data[:1500].decode("utf-8", "replace"))
        return
    focus = (root.findtext("Focus") or "").strip()
    for qa in pairs:
        question = qa.find("Question")
        yield (
            f"{label}#{qa.get('pid', '?')}",
            {
                "document": root.get("id"),
                "site": root.get("source"),
                "url": root.get("url"),
                "focus": focus,
                "qid": question.get("qid") if question is not None else None,
                "qtype": question.get("qtype") if question is not None else None,
                "question": question.text if question is not None else None,
                "answer": qa.findtext("Answer"),
            },
        )


def question_text(raw: str) -> str:
    """The question with the source's spacing fixed: "Who is at risk for Anthrax? ?" -> "Who is at risk for Anthrax?"."""
    q = " ".join(raw.split())
    q = re.sub(r"\s*\?(?:\s*\?)+", "?", q)
    q = re.sub(r"\s+\?", "?", q)
    return q[:1].upper() + q[1:]


def _segments(line: str) -> list[tuple[bool, str]]:
    """(is a list item, text) for the pieces of one source line.

    A "-" starts an item at the line's start, after a seam, or as " -" followed by a seam
    ("can include -  reduced inhibitions   -  slurred speech"). A single-spaced " - " is a dash,
    except the last one before an item: the list's first item ("you may try - sunlight    - aloe"),
    and except after a sentence's end when the line has two or more of those. Sentences printed twice
    in a row are dropped first; flattened copies of the list inside an item are cut last.
    """
    out: list[tuple[bool, str]] = []
    pending = False
    if len(SENTENCE_DASH.findall(line)) >= 2:  # one such dash may be prose; two or more are a list
        line = SENTENCE_DASH.sub("    - ", line)
    line = without_repeats(line)
    for seg in SEAM.split(line.strip()):
        if seg == "-":
            pending = True
            continue
        item = pending or seg.startswith("- ")
        text = seg[2:].strip() if seg.startswith("- ") else seg
        pending = False
        if text.endswith(" -"):
            text, pending = text[:-2].rstrip(), True
        if not text:
            continue
        if item and out and not out[-1][0] and " - " in out[-1][1]:
            lead, first = out[-1][1].rsplit(" - ", 1)
            out[-1:] = [(False, lead.rstrip())] if lead.strip() else []
            out.append((True, first.strip()))
        out.append((item, text))
    return _cut_copies(out)


def without_repeats(text: str) -> str:
    """Sentences the page printed twice in a row, once ("- Lead exposure. It can cause gout.  Lead exposure.
    It can cause gout." -> "- Lead exposure. It can cause gout."). The whitespace between sentences is
    kept (it carries the layout), and an item's "- " does not make its copy differ."""
    parts = SENTENCE_END.split(text)
    seps = SENTENCE_END.findall(text) + [""]
    keys = [re.sub(r"^-\s+", "", p.strip()) for p in parts]
    out: list[str] = []
    i = 0
    while i < len(parts):
        for k in range(1, (len(parts) - i) // 2 + 1):
            run = keys[i : i + k]
            # Four words at least: "No. No." may be meant.
            if run == keys[i + k : i + 2 * k] and len(" ".join(run).split()) >= 4:
                out += [parts[j] + seps[j] for j in range(i, i + k - 1)]
                out.append(parts[i + k - 1] + seps[i + 2 * k - 1])  # then the layout that followed the copy
                i += 2 * k
                break
        else:
            out.append(parts[i] + seps[i])
            i += 1
    return "".join(out)


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().lower()


def without_copy(text: str, items: list[str]) -> str:
    """`text` minus a leading flattened copy of the list just printed, or of its last items (two lists may
    run together): "coma death. Learn more" -> "Learn more"."""
    squashed = _squash(text)
    # One item is no evidence of a copy: "- Surgery" is often followed by "Surgery is ...".
    for start in range(len(items) - 1):
        flat = " ".join(_squash(x) for x in items[start:])
        if squashed.startswith(flat):
            words = text.split()
            for k in range(1, len(words) + 1):
                if _squash(" ".join(words[:k])) == flat:
                    return " ".join(words[k:])
    return text


def _last_item_copy(items: list[str]) -> str | None:
    """When the flattened copy sits inside the last item ("cayenne. sunlight aloe cayenne. Ask your doctor."),
    cut the item after its first sentence and return what follows the copy; else None."""
    last = items[-1]
    for m in re.finditer(r"[.;] ", last):
        head, tail = last[: m.start() + 1], last[m.end() :]
        rest = without_copy(tail, [*items[:-1], head])
        if rest != tail:
            items[-1] = head
            return rest
    return None


def _cut_copies(segments: list[tuple[bool, str]]) -> list[tuple[bool, str]]:
    """Segments with each flattened list copy that sits inside an item cut out; the text after the copy
    becomes a paragraph, so a list that follows starts anew."""
    out: list[tuple[bool, str]] = []
    run = 0  # where the current run of items starts in `out`
    for item, text in segments:
        out.append((item, text))
        if not item:
            run = len(out)
            continue
        items = [t for _, t in out[run:]]
        rest = _last_item_copy(items)
        if rest is not None:
            out[-1] = (True, items[-1])
            if rest:
                out.append((False, rest))
            run = len(out)
    return out


def _line_blocks(line: str) -> list[tuple[str, list[str]]]:
    """One source line -> its ("para" | "list", output lines) blocks, in order."""
    blocks: list[tuple[str, list[str]]] = []
    items: list[str] = []
    para: list[str] = []

    def close_list() -> None:
        rest = _last_item_copy(items)
        blocks.append(("list", [f"- {x}" for x in items]))
        if rest:
            para.append(rest)

    for item, text in _segments(line):
        if item:
            if para:
                blocks.append(("para", [" ".join(para)]))
                para = []
            items.append(text)
            continue
        if items:
            close_list()
            text, items = without_copy(text, items), []
            if not text:
                continue
        para.append(text)
    if items:
        close_list()
    if para:
        blocks.append(("para", [" ".join(para)]))
    return blocks


def readable(raw: str) -> str:
    """Paragraphs separated by a blank line and lists as "- item" lines, from the page's whitespace layout.

    A list stays with the sentence that introduces it (on the same source line, or ending in ":") and
    with the list it continues. A list the page also printed flattened right after it
    ("- coma   - death.  coma death.") loses the copy.
    """
    out: list[str] = []
    for line in raw.split("\n"):
        previous = None  # the kind of the last block from this same source line
        for kind, lines in _line_blocks(line):
            last = out[-1].split("\n")[-1] if out else ""
            if kind == "list" and (previous == "para" or last.endswith(":") or last.startswith("- ")):
                out[-1] += "\n" + "\n".join(lines)
            else:
                out.append("\n".join(lines))
            previous = kind
    return "\n\n".join(out)


def convert(row: dict, source: object) -> dict:
    question = question_text(field(row, "question"))
    if EMPTY_FOCUS.search(question):
        raise Reject("question_without_focus", f"the template's focus slot is empty: {question!r}")
    answer = readable(field(row, "answer"))
    if not answer:
        raise Reject("missing_field", "'answer' holds only whitespace and list markers")
    return pair(question, answer)
