"""Report sections for the data (funnel, composition, sources) and training (phases, schedule, loss)."""

from __future__ import annotations

from html import escape
from typing import Any

from emergent.report import svg
from emergent.report.results import RunResults, as_float, dig, first
from emergent.report.source_examples import examples_section

FUNNEL = (
    ("quarantined", "quarantined"),
    ("filtered", "quality filters"),
    ("exact_duplicates", "exact duplicates"),
    ("near_duplicates", "near duplicates"),
    ("prompt_duplicates", "same-prompt duplicates"),
    ("contaminated", "eval contamination"),
    ("capped", "composition caps"),
)
# The held-out curve is drawn in ink so it stands apart from the phase colours of the training loss.
HELDOUT_COLOUR = "#1d2433"


def na(text: str = "n/a") -> str:
    return f'<span class="na">{escape(text)}</span>'


def num(v: Any) -> str:
    f = as_float(v)
    return svg.fmt_num(f) if f is not None else na()


def table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """An HTML table; cells are already-escaped HTML, columns in `numeric` align right."""
    head = "".join(f'<th class="{"num" if i in numeric else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if i in numeric else ""}">{c}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def categories_text(cats: Any) -> str:
    """A phase's categories: a list of names, or {name: count} as the data build writes them."""
    if isinstance(cats, dict):
        return ", ".join(f"{k} {svg.fmt_num(as_float(v) or 0)}" for k, v in cats.items())
    if isinstance(cats, list):
        return ", ".join(str(c) for c in cats)
    return "n/a" if cats is None else str(cats)


def warnings_html(warnings: list[str], shown: int = 3) -> str:
    """The first few warnings in full, the rest folded (a run with many off-target buckets has many)."""
    head = "".join(f'<div class="warn">⚠ {escape(w)}</div>' for w in warnings[:shown])
    if len(warnings) <= shown:
        return head
    rest = "".join(f'<div class="warn">⚠ {escape(w)}</div>' for w in warnings[shown:])
    return head + f'<details class="more"><summary>{len(warnings) - shown} more warnings</summary>{rest}</details>'


def card(title: str, body: str) -> str:
    return f'<div class="card"><h3>{escape(title)}</h3>{body or na("not available in this run")}</div>'


def missing(what: str, command: str) -> str:
    return f'<div class="card"><p class="na">No {escape(what)} in this run folder — run <code>{escape(command)}</code>.</p></div>'


def pill(status: str | None) -> str:
    if not status:
        return '<span class="pill na">n/a</span>'
    cls = "ok" if status in ("ok", "in_range", "within") else "off"
    return f'<span class="pill {cls}">{escape(status)}</span>'


def data_section(r: RunResults) -> str:
    """Funnel with drop reasons, composition against targets, sources with licences, phase files."""
    m = r.manifest
    if not m:
        return (
            '<section id="data"><h2>Data</h2>' + missing("data manifest", "emergent data build CONFIG") + "</section>"
        )
    counts = m.get("counts") or {}
    total = as_float(counts.get("input"))
    rows, left = [], total
    if total is not None:
        rows.append(("input", total, f"{svg.fmt_num(total)} records"))
        # Drop counts this report does not know by name still belong in the funnel, or it would not add up.
        known = {k for k, _ in FUNNEL} | {"input", "output"}
        steps = list(FUNNEL) + [(k, k.replace("_", " ")) for k in counts if k not in known]
        for key, label in steps:
            n = as_float(counts.get(key))
            if not n:
                continue
            left -= n
            rows.append((f"− {label}", max(left, 0), f"{svg.fmt_num(left)}  (−{svg.fmt_num(n)})"))
    out = as_float(counts.get("output"))
    check = ""
    if total is not None and out is not None:
        if abs(left - out) < 0.5:
            check = (
                f'<p class="muted">Adds up: input {svg.fmt_num(total)} = every drop + output {svg.fmt_num(out)}.</p>'
            )
        else:
            check = f'<div class="warn">The counts do not add up: input minus drops is {svg.fmt_num(left)}, output is {svg.fmt_num(out)}.</div>'
    funnel = svg.hbars(rows, label="data funnel") + check if rows else ""
    reasons = sorted(((k, as_float(v) or 0.0) for k, v in (m.get("reasons") or {}).items()), key=lambda kv: -kv[1])
    reasons = [(k, v) for k, v in reasons if v > 0]
    reason_chart = (
        na("nothing was dropped")
        if m.get("reasons") is not None and not reasons
        else svg.hbars(
            [(k.replace("_", " "), v, svg.fmt_num(v)) for k, v in reasons], colour="#e8744f", label="drop reasons"
        )
    )
    parts = [
        '<section id="data"><h2>Data</h2><p class="lead">What went in, what was dropped and why, what came out.</p>',
        '<div class="grid2">',
        card("Funnel", funnel),
        card("Drops per reason", reason_chart),
        "</div>",
        warnings_html([str(w) for w in m.get("warnings") or []]),
        "</section>",
        composition_section(r),
        sources_section(r),
        examples_section(r),
    ]
    return "".join(parts)


def _composition_rows(comp: dict[str, Any]) -> list[tuple[str, float, float | None, float | None, str]]:
    rows = []
    for bucket, c in comp.items():
        if not isinstance(c, dict):
            continue
        share = as_float(c.get("share"))
        if share is not None and share > 1.0:  # given in percent
            share /= 100
        target = c.get("target") or [None, None]
        lo, hi = (as_float(target[0]), as_float(target[1])) if len(target) == 2 else (None, None)
        if lo is not None and hi is not None and hi > 1.0:
            lo, hi = lo / 100, hi / 100
        rows.append((bucket, share or 0.0, lo, hi, str(c.get("status") or "")))
    return rows


def composition_section(r: RunResults) -> str:
    m = r.manifest
    comp = m.get("composition") or {}
    rows = _composition_rows(comp)
    chart = svg.range_bars(rows, label="composition against targets")
    legend = svg.legend([("in target range", "#2bb39a"), ("outside range", "#e8744f"), ("target band", "#bfe9df")])
    before = m.get("composition_before_dedup") or {}
    # Builds since session 8 say how much of each bucket the classifier chose rather than the config.
    split = any(isinstance(c, dict) and "predicted" in c for c in comp.values())
    trs = []
    for bucket, share, lo, hi, status in rows:
        b = before.get(bucket) if isinstance(before.get(bucket), dict) else {}
        trs.append(
            [
                escape(bucket),
                num(comp[bucket].get("count")),
                f"{share * 100:.1f}%",
                f"{lo * 100:.0f}–{hi * 100:.0f}%" if lo is not None and hi is not None else na(),
                pill(status or None),
                *([num(comp[bucket].get("from_config")), num(comp[bucket].get("predicted"))] if split else []),
                num(b.get("count")) if b else na(),
            ]
        )
    div = m.get("diversity") or {}
    diversity = (
        f"<p>Shannon entropy <b>{num(div.get('entropy_bits'))}</b> bits · effective number of buckets "
        f"<b>{num(div.get('effective_buckets'))}</b> of 10.</p>"
        if div
        else na("no diversity figures")
    )
    return (
        '<section id="composition"><h2>Composition</h2><p class="lead">Share of each behavioural bucket in the curated '
        "mixture; the shaded band is the target range from the config.</p>"
        f'<div class="card"><h3>Buckets against their targets</h3>{chart or na()}{legend if chart else ""}{diversity}</div>'
        + card(
            "Per bucket",
            table(
                [
                    "bucket",
                    "count",
                    "share",
                    "target",
                    "status",
                    *(["from config", "classified"] if split else []),
                    "before dedup",
                ],
                trs,
                {1, 2, 5, 6, 7} if split else {1, 2, 5},
            )
            if trs
            else "",  # fmt: skip
        )
        + "</section>"
    )


def sources_section(r: RunResults) -> str:
    rows = []
    for name, s in r.sources().items():
        inp, out = as_float(s.get("input")), as_float(s.get("output"))
        kept = f"{out / inp * 100:.0f}%" if inp and out is not None else na()
        drops = ", ".join(
            f"{svg.fmt_num(as_float(s[k]))} {label.split(' (')[0]}" for k, label in FUNNEL if as_float(s.get(k))
        )
        rows.append(
            [
                f'<a href="#examples-{escape(name)}"><b>{escape(name)}</b></a>',
                escape(str(first(s, "license", "licence") or "n/a")),
                escape(str(first(s, "category", "default_category") or "mixed (classified)")),
                num(inp),
                num(out),
                kept,
                escape(drops) or '<span class="muted">none</span>',
            ]
        )
    phases = r.manifest.get("phases") or {}
    prow = [
        [
            escape(name),
            escape(categories_text(p.get("categories"))),
            num(p.get("examples")),
            num(p.get("tokens")),
        ]
        for name, p in phases.items()
        if isinstance(p, dict)
    ]
    held = r.manifest.get("validation")
    if prow and isinstance(held, dict):  # in no phase: the validation loss and the eval's held-out loss use it
        prow.append(
            [
                f"<i>held out: {escape(str(held.get('file', 'validation.parquet')))}</i>",
                escape(categories_text(held.get("categories")) or "none"),
                num(held.get("examples")),
                num(held.get("tokens")),
            ]
        )
    return (
        '<section id="sources"><h2>Sources and licences</h2><p class="lead">Every corpus in the mixture, its licence, '
        "and how much of it survived curation; a source's name leads to its drop reasons and examples.</p>"
        + card(
            "Sources",
            table(["source", "licence", "bucket", "input", "output", "kept", "dropped"], rows, {3, 4, 5})
            if rows
            else "",
        )
        + card(
            "Curriculum phase files", table(["phase", "categories", "examples", "tokens"], prow, {2, 3}) if prow else ""
        )
        + "</section>"
    )


def _metric_lines(r: RunResults) -> list[tuple[float, dict[str, Any]]]:
    """(global step, metrics line) for training lines that carry a loss or a learning rate."""
    out, step = [], 0.0
    offsets: dict[str, float] = {}
    last_phase, phase_base = None, 0.0
    for line in r.metrics:
        if first(line, "loss", "train_loss", "learning_rate", "lr") is None:
            continue
        phase = line.get("phase")
        g = as_float(first(line, "global_step", "total_step"))
        if g is None:
            local = as_float(line.get("step"))
            if phase != last_phase:
                phase_base = step
                offsets.setdefault(str(phase), phase_base)
                last_phase = phase
            g = offsets.get(str(phase), phase_base) + local if local is not None else step + 1
        step = g
        out.append((g, line))
    return out


def _engine(ts: dict) -> str:
    """ "DDP × 8 processes" and the like; empty for one process."""
    world = ts.get("world_size") or 1
    if world == 1:
        return ""
    names = {"MULTI_GPU": "DDP", "MULTI_CPU": "DDP (CPU)", "FSDP": "FSDP", "DEEPSPEED": "DeepSpeed"}
    engine = names.get(str(ts.get("distributed")), str(ts.get("distributed") or "distributed"))
    return f"{escape(engine)} × {int(world)} processes"


def _loss(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else na()


def _phase_column(name: str) -> str:
    """The phase's short name (phase2 for phase2_analytical): the full names make the table too wide to read."""
    return name.split("_", 1)[0]


def heldout_training(r: RunResults, vlines: list[tuple[float, str]]) -> str:
    """Held-out loss on its own scale over training, and per bucket before training and after each phase."""
    columns = r.validation_columns()
    curve = r.validation_curve()
    if not columns and not curve:
        return ""
    # Its own y axis: beside the training loss a change in the third decimal is a flat line.
    chart = svg.line_chart(
        [("held-out loss", curve, HELDOUT_COLOUR)],
        vlines=vlines,
        x_label="optimizer step (0 = base model)",
        y_label="held-out loss",
        label="held-out loss during training",
        markers=True,
        height=220,
    )
    buckets = list(dict.fromkeys(b for _, _, cats in columns for b in cats))
    counts = r.train_summary.get("validation") or r.manifest.get("validation") or {}
    has_base = len(columns) > 1 and columns[0][0] == "base"

    def row(name: str, values: list[float | None], n: Any) -> list[str]:
        change = values[-1] - values[0] if has_base and values[0] is not None and values[-1] is not None else None
        cells = [name, num(n)] + [_loss(v) for v in values]
        return cells + ([f"{change:+.4f}" if change is not None else na()] if has_base else [])

    rows = [row("<b>all</b>", [c[1] for c in columns], first(counts, "examples"))]
    rows += [row(escape(b), [c[2].get(b) for c in columns], dig(counts, "categories", b)) for b in buckets]
    headers = ["bucket", "n"] + [_phase_column(c[0]) for c in columns] + (["base → final"] if has_base else [])
    return (
        '<p class="muted">Per-token loss (nats per assistant token, lower is better) on conversations held out of '
        "every phase: the base model before the first step, then the adapter at the end of each phase"
        " (n = conversations).</p>" + chart + (table(headers, rows, set(range(1, len(headers)))) if columns else "")
    )


def training_section(r: RunResults) -> str:
    """Phase timeline, learning-rate schedule, training and held-out loss with phase boundaries, per-phase tables."""
    phases = r.phases()
    lines = _metric_lines(r)
    if not phases and not lines:
        return (
            '<section id="training"><h2>Training</h2>'
            + missing("training results", "emergent train CONFIG")
            + "</section>"
        )
    colour = {str(p.get("name")): svg.PALETTE[i % len(svg.PALETTE)] for i, p in enumerate(phases)}
    for _, line in lines:
        colour.setdefault(str(line.get("phase")), svg.PALETTE[len(colour) % len(svg.PALETTE)])
    # Phase boundaries: the first global step of every phase seen in the metrics, else cumulative steps.
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for g, line in lines:
        ph = str(line.get("phase"))
        starts.setdefault(ph, g - 1)
        ends[ph] = g
    if not starts:
        acc = 0.0
        for p in phases:
            n = as_float(p.get("steps")) or 0.0
            starts[str(p.get("name"))], ends[str(p.get("name"))] = acc, acc + n
            acc += n
    segs = []
    for name, a in starts.items():
        p = next((p for p in phases if str(p.get("name")) == name), {})
        lr = as_float(p.get("learning_rate"))
        note = f"lr {lr:.1e}" if lr else ""
        segs.append((name, a, ends.get(name, a + 1), colour.get(name, svg.PALETTE[0]), note))
    # Boundaries sit half-way between the last step of one phase and the first of the next.
    vlines = [(a + 0.5, "") for _, a, *_ in segs[1:]]
    lr_series, loss_series = [], []
    for name in starts:
        pts = [(g, as_float(first(line, "learning_rate", "lr"))) for g, line in lines if str(line.get("phase")) == name]
        lpts = [(g, as_float(first(line, "loss", "train_loss"))) for g, line in lines if str(line.get("phase")) == name]
        lr_series.append((name, [p for p in pts if p[1] is not None], colour[name]))
        loss_series.append((name, [p for p in lpts if p[1] is not None], colour[name]))
    heldout = r.validation_curve()
    if heldout:
        loss_series.append(("held-out loss", heldout, HELDOUT_COLOUR))
    legend = svg.legend([(n, colour[n]) for n in starts])
    peaks = [as_float(p.get("learning_rate")) or 0.0 for p in phases]
    seen = [y for _, pts, _ in lr_series for _, y in pts]
    lr_top = max(peaks + seen + [0.0]) * 1.05 or None
    lr_chart = svg.line_chart(
        lr_series,
        y_range=(0.0, lr_top) if lr_top else None,
        vlines=vlines,
        x_label="optimizer step",
        y_label="learning rate",
        label="learning-rate schedule",
        width=520,
    )
    loss_chart = svg.line_chart(
        loss_series,
        vlines=vlines,
        x_label="optimizer step",
        y_label="loss" if heldout else "training loss",
        label="loss curve",
        markers=True,
        width=520,
    )
    rows = []
    for p in phases:
        cats = p.get("categories")
        rows.append(
            [
                f'<i style="display:inline-block;width:10px;height:10px;border-radius:2px;background:{colour.get(str(p.get("name")))}"></i> '
                f"<b>{escape(str(p.get('name')))}</b>",
                escape(categories_text(cats)),
                escape(f"{as_float(p.get('learning_rate')):.1e}") if as_float(p.get("learning_rate")) else na(),
                num(p.get("steps")),
                num(p.get("examples")),
                num(p.get("tokens")),
                f"{num(p.get('loss_first'))} → {num(p.get('loss_last'))}",
                num(p.get("loss_mean")),
                num(p.get("seconds")),
                num(p.get("tokens_per_s")),
            ]
        )
    held = heldout_training(r, vlines)
    ts = r.train_summary
    peft = ts.get("peft") if isinstance(ts.get("peft"), dict) else {}
    facts = " · ".join(
        x
        for x in [
            f"model <b>{escape(r.base_model)}</b>",
            f"device {escape(str(ts['device']))}" if ts.get("device") else "",
            f"precision {escape(str(ts['precision']))}" if ts.get("precision") else "",
            _engine(ts),
            f"LoRA r={escape(str(peft.get('r')))}, alpha={escape(str(peft.get('lora_alpha')))}"
            if peft.get("r")
            else "",
        ]
        if x
    )
    return (
        '<section id="training"><h2>Training</h2><p class="lead">One adapter carried through every curriculum phase, '
        f"each with its own learning rate and schedule. {facts}</p>"
        + card("Phase timeline", svg.timeline(segs, label="phase timeline") + legend)
        + '<div class="grid2">'
        + card("Learning-rate schedule", lr_chart)
        + (
            card(
                "Training and held-out loss (phase boundaries dashed)",
                loss_chart
                + svg.legend([("training loss (phase colours)", svg.PALETTE[0]), ("held-out loss", HELDOUT_COLOUR)]),
            )
            if heldout
            else card("Training loss (phase boundaries dashed)", loss_chart)
        )
        + "</div>"
        + (
            card(
                "Per phase",
                table(
                    [
                        "phase",
                        "categories",
                        "lr",
                        "steps",
                        "examples",
                        "tokens",
                        "loss first → last",
                        "mean loss",
                        "seconds",
                        "tokens/s",
                    ],
                    rows,
                    {2, 3, 4, 5, 6, 7, 8, 9},
                ),
            )
            if rows
            else ""
        )
        + (card("Held-out loss by bucket, before training and after each phase", held) if held else "")
        + "</section>"
    )
