"""What the model learns from, per source: a few kept records shown as chat turns, and what was dropped and why.

Read from the build's own files in RUN/data: the mixture (conversations/*.parquet) for the examples,
quarantine.jsonl (ingest) and dropped/<step>.jsonl (curation) for the drop reasons (the manifest
counts drops per source but not per reason). Every text is escaped: corpora hold markup.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from html import escape
from pathlib import Path

from emergent.report.results import RunResults, as_float
from emergent.schema import tool_function

EXAMPLES_PER_SOURCE = 3
# A long record is cut for the page (the full text is in the Parquet shard); the cut is said, not hidden.
MAX_CHARS_PER_TURN = 1_200


def drops_by_source(data_dir: Path) -> dict[str, Counter]:
    """{source: Counter({(stage, reason): n})}: ingest quarantine and every curation step's drops."""
    out: dict[str, Counter] = {}
    files = [("ingest", data_dir / "quarantine.jsonl")]
    files += [(p.stem, p) for p in sorted((data_dir / "dropped").glob("*.jsonl"))]
    for stage, path in files:
        try:
            fh = path.open(encoding="utf-8")
        except OSError:
            continue
        with fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash: the totals below then show what is unexplained
                source = entry.get("source") or entry.get("_source")
                if source:
                    out.setdefault(str(source), Counter())[(stage, str(entry.get("reason") or "unknown"))] += 1
    return out


def pick_examples(data_dir: Path, seed: int, k: int = EXAMPLES_PER_SOURCE) -> dict[str, list[dict]]:
    """{source: up to k kept records}, drawn with a seed per source so a rerun of the report shows the same ones."""
    import pyarrow.parquet as pq

    from emergent.data.store import row_to_conversation

    shards = sorted((data_dir / "conversations").glob("*.parquet"))
    rows: dict[str, list[tuple[int, int]]] = {}  # source -> (shard, row in shard)
    for i, shard in enumerate(shards):
        for j, source in enumerate(pq.read_table(shard, columns=["_source"]).column("_source").to_pylist()):
            rows.setdefault(str(source), []).append((i, j))
    chosen: dict[str, list[tuple[int, int]]] = {}
    for source, where in rows.items():
        rng = random.Random(f"{seed}:{source}")
        chosen[source] = sorted(rng.sample(where, min(k, len(where))))
    wanted: dict[int, set[int]] = {}
    for where in chosen.values():
        for i, j in where:
            wanted.setdefault(i, set()).add(j)
    records: dict[tuple[int, int], dict] = {}
    for i, js in wanted.items():
        pf = pq.ParquetFile(shards[i])
        start = 0
        # Only the row groups holding a chosen row are read.
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            inside = [j for j in js if start <= j < start + n]
            if inside:
                table = pf.read_row_group(g)
                for j in inside:
                    records[(i, j)] = row_to_conversation(table.slice(j - start, 1).to_pylist()[0])
            start += n
    return {source: [records[w] for w in where] for source, where in chosen.items()}


def _text(content: str) -> str:
    if len(content) <= MAX_CHARS_PER_TURN:
        return escape(content)
    rest = len(content) - MAX_CHARS_PER_TURN
    return escape(content[:MAX_CHARS_PER_TURN]) + f'<span class="muted"> … ({rest:,} more characters)</span>'


def chat_html(conv: dict) -> str:
    """One conversation as chat turns: role, text, tool calls; the tools on offer named above it."""
    parts = []
    tools = conv.get("tools") or []
    if tools:
        names = [str(tool_function(t).get("name", "?")) for t in tools if isinstance(t, dict)]
        parts.append(f'<p class="muted">tools offered: {escape(", ".join(names))}</p>')
    for m in conv.get("messages") or []:
        role = str(m.get("role") or "?")
        body = _text(str(m.get("content") or ""))
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            body += ("\n" if body else "") + _text(f"→ {fn.get('name')}({fn.get('arguments')})")
        parts.append(
            f'<div class="turn {escape(role)}"><span class="role">{escape(role)}</span><pre>{body}</pre></div>'
        )
    meta = f"{conv.get('_origin') or ''} · {conv.get('_category') or 'unclassified'}"
    return f'<div class="chat"><p class="muted origin">{escape(meta)}</p>{"".join(parts)}</div>'


def _drops_table(drops: Counter, dropped: float | None) -> str:
    if not drops and not dropped:
        return '<p class="muted">Nothing dropped.</p>'
    rows = "".join(
        f"<tr><td>{escape(reason.replace('_', ' '))}</td><td>{escape(stage)}</td><td class='num'>{n:,}</td></tr>"
        for (stage, reason), n in sorted(drops.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    explained = sum(drops.values())
    gap = ""
    if dropped is not None and abs(dropped - explained) >= 0.5:
        gap = (
            f'<div class="warn">{int(dropped - explained):,} dropped records have no reason on file '
            "(quarantine.jsonl or dropped/ missing or cut).</div>"
        )
    return (
        '<table class="drops"><thead><tr><th>dropped because</th><th>stage</th><th class="num">records</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>{gap}"
    )


def examples_section(r: RunResults) -> str:
    """Per source: kept / input, the drops by reason, and three kept records as the model will see them."""
    sources = r.sources()
    data_dir = r.run_dir / "data"
    if not sources:
        return ""
    drops = drops_by_source(data_dir)
    try:
        examples = pick_examples(data_dir, (r.manifest.seed if r.manifest else None) or 0)
    except (OSError, ValueError, KeyError):  # no mixture on disk (a manifest copied alone), or an odd shard
        examples = {}
    cards = []
    for name, s in sources.items():
        inp, out = as_float(s.input), as_float(s.output)
        dropped = inp - out if inp is not None and out is not None else None
        kept = f"kept {out:,.0f} of {inp:,.0f}" if dropped is not None else "counts n/a"
        shown = examples.get(name) or []
        body = "".join(chat_html(c) for c in shown) or '<p class="na">No kept record of this source on disk.</p>'
        cards.append(
            f'<details class="card source-examples" id="examples-{escape(name)}"><summary><b>{escape(name)}</b> · '
            f"{escape(kept)} · {escape(s.category or 'classified')}</summary>"
            f"{_drops_table(drops.get(name, Counter()), dropped)}"
            f"<h4>{len(shown)} kept records, drawn with the run's seed</h4>{body}</details>"
        )
    return (
        '<section id="examples"><h2>What the model learns from</h2><p class="lead">For every source: how many of its '
        "records were kept, why the others were dropped, and three kept records as chat turns (long turns cut for "
        "the page).</p>" + "".join(cards) + "</section>"
    )
