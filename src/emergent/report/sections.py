"""Report sections for the data (funnel, composition, sources) and training (phases, schedule, loss)."""

from __future__ import annotations

from html import escape
from typing import Any

from emergent.handoff import BucketShare, CompositionStatus, Counts, PhaseSummary, StepRecord, TrainSummary
from emergent.report import svg
from emergent.report.results import RunResults, as_float
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
    cls = "ok" if status == CompositionStatus.OK else "off"
    return f'<span class="pill {cls}">{escape(status)}</span>'


def _funnel(counts: Counts) -> tuple[list[tuple[str, float, str]], str]:
    """(bars of the data funnel, the line that checks input = every drop + output)."""
    total, out = as_float(counts.input), as_float(counts.output)
    rows, left = [], total
    if total is not None:
        rows.append(("input", total, f"{svg.fmt_num(total)} records"))
        for key, label in FUNNEL:
            n = as_float(getattr(counts, key))
            if not n:
                continue
            left -= n
            rows.append((f"− {label}", max(left, 0), f"{svg.fmt_num(left)}  (−{svg.fmt_num(n)})"))
    check = ""
    if total is not None and out is not None:
        if abs(left - out) < 0.5:
            check = (
                f'<p class="muted">Adds up: input {svg.fmt_num(total)} = every drop + output {svg.fmt_num(out)}.</p>'
            )
        else:
            check = f'<div class="warn">The counts do not add up: input minus drops is {svg.fmt_num(left)}, output is {svg.fmt_num(out)}.</div>'
    return rows, check


def data_section(r: RunResults) -> str:
    """Funnel with drop reasons, composition against targets, sources with licences, phase files."""
    m = r.manifest
    if m is None:
        return (
            '<section id="data"><h2>Data</h2>' + missing("data manifest", "emergent data build CONFIG") + "</section>"
        )
    rows, check = _funnel(m.counts)
    funnel = svg.hbars(rows, label="data funnel") + check if rows else ""
    reasons = sorted(((k, float(v)) for k, v in (m.reasons or {}).items()), key=lambda kv: -kv[1])
    reasons = [(k, v) for k, v in reasons if v > 0]
    reason_chart = (
        na("nothing was dropped")
        if m.reasons is not None and not reasons
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
        warnings_html(m.warnings),
        "</section>",
        composition_section(r),
        sources_section(r),
        examples_section(r),
    ]
    return "".join(parts)


def _composition_rows(comp: dict[str, BucketShare]) -> list[tuple[str, float, float | None, float | None, str]]:
    return [
        (bucket, c.share, *(c.target or (None, None)), str(c.status or ""))  # type: ignore[misc]
        for bucket, c in comp.items()
    ]


def composition_section(r: RunResults) -> str:
    m = r.manifest
    comp = m.composition if m else {}
    rows = _composition_rows(comp)
    chart = svg.range_bars(rows, label="composition against targets")
    legend = svg.legend([("in target range", "#2bb39a"), ("outside range", "#e8744f"), ("target band", "#bfe9df")])
    before = m.composition_before_dedup if m else {}
    # A manifest may say how much of each bucket the classifier chose rather than the config; older ones do not.
    split = any(c.predicted is not None for c in comp.values())
    trs = []
    for bucket, share, lo, hi, status in rows:
        b = before.get(bucket)
        trs.append(
            [
                escape(bucket),
                num(comp[bucket].count),
                f"{share * 100:.1f}%",
                f"{lo * 100:.0f}–{hi * 100:.0f}%" if lo is not None and hi is not None else na(),
                pill(status or None),
                *([num(comp[bucket].from_config), num(comp[bucket].predicted)] if split else []),
                num(b.count) if b else na(),
            ]
        )
    div = m.diversity if m else None
    diversity = (
        f"<p>Shannon entropy <b>{num(div.entropy_bits)}</b> bits · effective number of buckets "
        f"<b>{num(div.effective_buckets)}</b> of 10.</p>"
        if div is not None
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


def _source_rows(r: RunResults) -> list[list[str]]:
    rows = []
    for name, s in r.sources().items():
        inp, out = as_float(s.input), as_float(s.output)
        kept = f"{out / inp * 100:.0f}%" if inp and out is not None else na()
        drops = ", ".join(
            f"{svg.fmt_num(float(getattr(s, k)))} {label.split(' (')[0]}" for k, label in FUNNEL if getattr(s, k)
        )
        rows.append(
            [
                f'<a href="#examples-{escape(name)}"><b>{escape(name)}</b></a>',
                escape(s.license or "n/a"),
                escape(s.category or "mixed (classified)"),
                num(inp),
                num(out),
                kept,
                escape(drops) or '<span class="muted">none</span>',
            ]
        )
    return rows


def _phase_file_rows(r: RunResults) -> list[list[str]]:
    m = r.manifest
    if m is None:
        return []
    prow = [
        [escape(name), escape(categories_text(p.categories)), num(p.examples), num(p.tokens)]
        for name, p in m.phases.items()
    ]
    held = m.validation
    if prow and held is not None:  # in no phase: the validation loss and the eval's held-out loss use it
        prow.append(
            [
                f"<i>held out: {escape(held.file or 'validation.parquet')}</i>",
                escape(categories_text(held.categories) or "none"),
                num(held.examples),
                num(held.tokens),
            ]
        )
    return prow


def sources_section(r: RunResults) -> str:
    rows, prow = _source_rows(r), _phase_file_rows(r)
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


def _metric_lines(r: RunResults) -> list[tuple[float, StepRecord]]:
    """(global step, metrics line) for training lines that carry a loss or a learning rate; a line from before
    the trainer wrote global_step is placed by its phase's first line and its step within the phase."""
    out, step = [], 0.0
    offsets: dict[str, float] = {}
    last_phase, phase_base = None, 0.0
    for line in r.metrics:
        if line.loss is None and line.learning_rate is None:
            continue
        g = line.global_step
        if g is None:
            if line.phase != last_phase:
                phase_base = step
                offsets.setdefault(str(line.phase), phase_base)
                last_phase = line.phase
            base = offsets.get(str(line.phase), phase_base)
            g = base + line.step if line.step is not None else step + 1
        step = float(g)
        out.append((step, line))
    return out


def _engine(ts: TrainSummary) -> str:
    """ "DDP × 8 processes" and the like; empty for one process."""
    world = ts.world_size or 1
    if world == 1:
        return ""
    names = {"MULTI_GPU": "DDP", "MULTI_CPU": "DDP (CPU)", "FSDP": "FSDP", "DEEPSPEED": "DeepSpeed"}
    engine = names.get(str(ts.distributed), str(ts.distributed or "distributed"))
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
    counts = (r.train_summary and r.train_summary.validation) or (r.manifest and r.manifest.validation)
    has_base = len(columns) > 1 and columns[0][0] == "base"

    def row(name: str, values: list[float | None], n: Any) -> list[str]:
        change = values[-1] - values[0] if has_base and values[0] is not None and values[-1] is not None else None
        cells = [name, num(n)] + [_loss(v) for v in values]
        return cells + ([f"{change:+.4f}" if change is not None else na()] if has_base else [])

    rows = [row("<b>all</b>", [c[1] for c in columns], counts.examples if counts else None)]
    rows += [
        row(escape(b), [c[2].get(b) for c in columns], counts.categories.get(b) if counts else None) for b in buckets
    ]
    headers = ["bucket", "n"] + [_phase_column(c[0]) for c in columns] + (["base → final"] if has_base else [])
    return (
        '<p class="muted">Per-token loss (nats per assistant token, lower is better) on conversations held out of '
        "every phase: the base model before the first step, then the adapter at the end of each phase"
        " (n = conversations).</p>" + chart + (table(headers, rows, set(range(1, len(headers)))) if columns else "")
    )


# -- training: chart data ---------------------------------------------------------------------------------

Segment = tuple[str, float, float, str, str]  # (phase, first step - 1, last step, colour, note)


def phase_colours(phases: list[PhaseSummary], lines: list[tuple[float, StepRecord]]) -> dict[str, str]:
    """A palette colour per phase: the summary's phases in order, then any other phase the metrics name."""
    colour = {p.name: svg.PALETTE[i % len(svg.PALETTE)] for i, p in enumerate(phases)}
    for _, line in lines:
        colour.setdefault(str(line.phase), svg.PALETTE[len(colour) % len(svg.PALETTE)])
    return colour


def phase_segments(
    phases: list[PhaseSummary], lines: list[tuple[float, StepRecord]], colour: dict[str, str]
) -> list[Segment]:
    """Each phase's span of optimizer steps: from the metrics where they exist, else cumulative steps."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for g, line in lines:
        ph = str(line.phase)
        starts.setdefault(ph, g - 1)
        ends[ph] = g
    if not starts:
        acc = 0.0
        for p in phases:
            n = float(p.steps or 0)
            starts[p.name], ends[p.name] = acc, acc + n
            acc += n
    rates = {p.name: p.learning_rate for p in phases}
    return [
        (
            name,
            a,
            ends.get(name, a + 1),
            colour.get(name, svg.PALETTE[0]),
            f"lr {lr:.1e}" if (lr := rates.get(name)) else "",
        )
        for name, a in starts.items()
    ]


def schedule_series(
    lines: list[tuple[float, StepRecord]], segments: list[Segment], colour: dict[str, str]
) -> tuple[list, list]:
    """(learning-rate series, training-loss series): one line per phase, in the segments' order."""
    lr_series, loss_series = [], []
    for name, *_ in segments:
        mine = [(g, line) for g, line in lines if str(line.phase) == name]
        lr_series.append(
            (name, [(g, line.learning_rate) for g, line in mine if line.learning_rate is not None], colour[name])
        )
        loss_series.append((name, [(g, line.loss) for g, line in mine if line.loss is not None], colour[name]))
    return lr_series, loss_series


def training_charts(
    r: RunResults, segments: list[Segment], colour: dict[str, str], vlines: list
) -> tuple[str, str, bool]:
    """(learning-rate chart, loss chart, whether the loss chart holds the held-out curve too)."""
    lr_series, loss_series = schedule_series(_metric_lines(r), segments, colour)
    heldout = r.validation_curve()
    if heldout:
        loss_series.append(("held-out loss", heldout, HELDOUT_COLOUR))
    peaks = [p.learning_rate or 0.0 for p in r.phases()]
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
    return lr_chart, loss_chart, bool(heldout)


# -- training: HTML ---------------------------------------------------------------------------------------

PHASE_HEADERS = ["phase", "categories", "lr", "steps", "examples", "tokens", "loss first → last", "mean loss",
                 "seconds", "tokens/s"]  # fmt: skip


def phase_rows(phases: list[PhaseSummary], colour: dict[str, str]) -> list[list[str]]:
    """The per-phase table's cells (HTML)."""
    return [
        [
            f'<i style="display:inline-block;width:10px;height:10px;border-radius:2px;background:{colour.get(p.name)}"></i> '
            f"<b>{escape(p.name)}</b>",
            escape(categories_text(p.categories)),
            escape(f"{p.learning_rate:.1e}") if p.learning_rate else na(),
            num(p.steps),
            num(p.examples),
            num(p.tokens),
            f"{num(p.loss_first)} → {num(p.loss_last)}",
            num(p.loss_mean),
            num(p.seconds),
            num(p.tokens_per_s),
        ]
        for p in phases
    ]


def training_facts(r: RunResults) -> str:
    """Model, device, precision, engine and LoRA shape on one line (HTML)."""
    ts = r.train_summary or TrainSummary()
    peft = ts.peft
    return " · ".join(
        x
        for x in [
            f"model <b>{escape(r.base_model)}</b>",
            f"device {escape(ts.device)}" if ts.device else "",
            f"precision {escape(ts.precision)}" if ts.precision else "",
            _engine(ts),
            f"LoRA r={escape(str(peft.get('r')))}, alpha={escape(str(peft.get('lora_alpha')))}"
            if peft.get("r")
            else "",
        ]
        if x
    )


def training_section(r: RunResults) -> str:
    """Phase timeline, learning-rate schedule, training and held-out loss with phase boundaries, per-phase tables."""
    phases, lines = r.phases(), _metric_lines(r)
    if not phases and not lines:
        return (
            '<section id="training"><h2>Training</h2>'
            + missing("training results", "emergent train CONFIG")
            + "</section>"
        )
    colour = phase_colours(phases, lines)
    segs = phase_segments(phases, lines, colour)
    # Boundaries sit half-way between the last step of one phase and the first of the next.
    vlines = [(a + 0.5, "") for _, a, *_ in segs[1:]]
    lr_chart, loss_chart, with_heldout = training_charts(r, segs, colour, vlines)
    rows = phase_rows(phases, colour)
    held = heldout_training(r, vlines)
    loss_card = (
        card(
            "Training and held-out loss (phase boundaries dashed)",
            loss_chart
            + svg.legend([("training loss (phase colours)", svg.PALETTE[0]), ("held-out loss", HELDOUT_COLOUR)]),
        )
        if with_heldout
        else card("Training loss (phase boundaries dashed)", loss_chart)
    )
    return (
        '<section id="training"><h2>Training</h2><p class="lead">One adapter carried through every curriculum phase, '
        f"each with its own learning rate and schedule. {training_facts(r)}</p>"
        + card(
            "Phase timeline",
            svg.timeline(segs, label="phase timeline") + svg.legend([(s[0], colour[s[0]]) for s in segs]),
        )
        + '<div class="grid2">'
        + card("Learning-rate schedule", lr_chart)
        + loss_card
        + "</div>"
        + (card("Per phase", table(PHASE_HEADERS, rows, {2, 3, 4, 5, 6, 7, 8, 9})) if rows else "")
        + (card("Held-out loss by bucket, before training and after each phase", held) if held else "")
        + "</section>"
    )
