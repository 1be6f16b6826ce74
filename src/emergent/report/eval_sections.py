"""Report sections for evaluation (base vs adapter with CIs, confusion, style radar, transitions) and samples."""

from __future__ import annotations

import math
from collections import defaultdict
from html import escape
from typing import Any

from emergent.handoff import Estimate, PairedTest
from emergent.report import svg
from emergent.report.results import MODELS, RunResults, as_float
from emergent.report.sections import card, missing, na, table

# Next to every figure read through the register scorer: how often it reads a register right on replies from
# sources it never saw (issue #17's goal: >= 80 %). Two hand-labelled sets it was never tuned against agree:
# the test half 80.9 % (n 141) and a fresh batch labelled after every choice was made, 81.0 % (n 147); both
# together 80.9 % (n 288, 95 % interval 76-85 %; bench/RESULTS.md, session 17). It is weaker on
# conversational and factual replies (60-70 %), so a register figure stays secondary to the checks.
SCORER_MARK = " [register scorer: 81 % right out of source]"
# (metric in eval.json, sub-key or "", label, what "better" means). Headline rows first (the KPI cards use
# the first three); sub-keys have no paired-difference CI in eval.json, so their difference is a plain delta.
# Figures a control reaches (evaluate/metrics.REACHED_BY_CONTROLS) are labelled as such and come last.
REACHED = " [reached by a control: not evidence]"
HEADLINE = (
    ("primary", "", "Appropriate-response rate (primary: passes its checks)", "higher"),
    ("range", "fit", "Register fit: register, on topic, own words" + SCORER_MARK, "higher"),
    ("consistency", "", "Consistency (min over turns)" + SCORER_MARK, "higher"),
    ("transitions", "", "Transition (turns to switch)" + REACHED, "lower"),
    ("depth", "", "Contextual depth (Spearman)" + REACHED, "higher"),
    ("range", "style_hit", "Expected-style rule hit rate", "higher"),
    ("range", "", "Context hit rate" + REACHED, "higher"),
    ("collapse", "", "Context predictability from style" + REACHED, "higher"),
    ("consistency", "all_turns_on_target", "Dialogues on target every turn", "higher"),
    ("transitions", "switched", "Transitions that switch", "higher"),
    ("transitions", "carry_over", "Carry-over of the old context", "lower"),
)
# The style traits that tell contexts apart (evaluate/style.py names); other features fill in if these are absent.
RADAR_FEATURES = (
    "code_lines",
    "numbered_steps",
    "list_items",
    "tool_call_shape",
    "reasoning",
    "second_person",
    "validating",
    "questions_back",
    "narrative",
    "perspectives",
    "hedging",
    "formality",
)
HELDOUT_LABEL = "Held-out loss (nats per token)"
MODEL_COLOUR = {"base": svg.BASE_COLOUR, "adapter": svg.ADAPTER_COLOUR}


def _delta(b: Estimate, a: Estimate) -> Estimate:
    """adapter − base without an interval (a figure eval.json gives no paired difference for)."""
    return Estimate(mean=a.mean - b.mean) if a.mean is not None and b.mean is not None else Estimate()


def side_figure(r: RunResults, metric: str, side: str, sub: str = "") -> Estimate:
    """eval.json's `metric` for one side: its headline estimate, or its `sub` figure; empty when absent.

    The collapse metric's headline is its context predictability."""
    node = getattr(r.eval, metric) if r.eval else None
    fig = node.sides.get(side) if node is not None else None
    if metric == "collapse" and fig is not None:
        fig = fig.context_predictability
    if fig is not None and sub:
        fig = getattr(fig, sub)
    return fig if isinstance(fig, Estimate) else Estimate()


def _difference(r: RunResults, metric: str) -> Estimate:
    diff = getattr(r.eval, metric).difference
    if diff is not None:
        return diff
    return _delta(side_figure(r, metric, "base"), side_figure(r, metric, "adapter"))


def headline_rows(r: RunResults) -> list[tuple[str, Estimate, Estimate, Estimate, str]]:
    """(label, base, adapter, difference, better) for each metric present in eval.json."""
    rows = []
    for key, sub, label, better in HEADLINE:
        if r.eval is None or getattr(r.eval, key) is None:
            continue
        b, a = side_figure(r, key, "base", sub), side_figure(r, key, "adapter", sub)
        if not sub:
            rows.append((label, b, a, _difference(r, key), better))
        elif b.mean is not None or a.mean is not None:
            rows.append((label, b, a, _tested_difference(r, sub) or _delta(b, a), better))
    return rows


def _tested_difference(r: RunResults, metric: str) -> Estimate | None:
    """A sub-figure's paired difference from the tests family, where it is tested there (register fit)."""
    family = r.eval.tests.family if r.eval and r.eval.tests else []
    test = next((t for t in family if t.metric == metric and t.context == "all"), None)
    if test is None or test.mean is None or not test.ci95:
        return None
    return Estimate(mean=test.mean, ci95=test.ci95, n=test.n)


def _significance(d: Estimate, better: str) -> str:
    """Which side of zero the whole 95 % interval is on: better, worse, unclear (across zero), no CI, or ""."""
    if d.mean is None:
        return ""
    if d.lo is None or d.hi is None:
        return "no CI"
    sign = 1 if better == "higher" else -1
    if d.lo * sign > 0 and d.hi * sign > 0:
        return "better"
    if d.lo * sign < 0 and d.hi * sign < 0:
        return "worse"
    return "unclear"


def _verdict(d: Estimate, better: str) -> str:
    return {
        "": na(),
        "no CI": '<span class="pill na">no CI</span>',
        "better": '<span class="pill ok">adapter better</span>',
        "worse": '<span class="pill off">adapter worse</span>',
    }.get(_significance(d, better), '<span class="pill na">not significant</span>')


def heldout_row(r: RunResults) -> tuple[str, Estimate, Estimate, Estimate, str] | None:
    """(label, base, adapter, adapter − base, better) for the held-out loss; None when eval.json has none."""
    h = r.heldout()
    if h is None:
        return None
    loss = {side: Estimate(mean=h.sides[side].loss) if side in h.sides else Estimate() for side in MODELS}
    return (HELDOUT_LABEL, loss["base"], loss["adapter"], h.difference or Estimate(), "lower")


def _test_verdict(test: PairedTest) -> str:
    """A bucket's verdict from its Holm-corrected paired test (none below the minimum n)."""
    verdict = test.verdict or "no test"
    pill = {"adapter better": "ok", "adapter worse": "off"}.get(verdict, "na")
    p_holm = test.p_holm
    extra = f' <span class="muted">p<sub>Holm</sub>={p_holm:.3g}</span>' if p_holm is not None else ""
    return f'<span class="pill {pill}">{escape(verdict)}</span>{extra}'


def heldout_card(r: RunResults) -> str:
    """Base vs adapter loss on the held-out conversations, overall and per bucket, with paired CIs."""
    h = r.heldout()
    if h is None:
        return ""
    entries = [("all held-out", h.examples, *heldout_row(r)[1:4], None)] + [
        (b, v.examples, Estimate(mean=v.sides.get("base")), Estimate(mean=v.sides.get("adapter")),
         v.difference or Estimate(), v.test)
        for b, v in h.by_category.items()
    ]  # fmt: skip
    rows = [
        [
            f"<b>{escape(name)}</b>" if i == 0 else escape(name),
            escape(str(n)) if n is not None else na(),
            escape(b.text(4)),
            escape(a.text(4)),
            escape(d.text(4)),
            _verdict(d, "lower") if test is None else _test_verdict(test),
        ]
        for i, (name, n, b, a, d, test) in enumerate(entries)
    ]
    colours = {"better": "#2bb39a", "worse": "#e8744f"}
    chart = svg.intervals(
        [
            (name, d.mean, d.lo, d.hi, colours.get(_significance(d, "lower"), svg.BASE_COLOUR))
            for name, _, _, _, d, _ in entries
        ],
        x_label="adapter − base, nats per token (left of the dashed line: adapter better)",
        label="held-out loss difference per bucket",
    )
    dropped = {k: v for k, v in h.dropped.items() if v}
    tokens = as_float(h.loss_tokens)
    return card(
        "Held-out loss",
        "<p>Per-token loss (nats per assistant token, lower is better) on "
        + (f"{escape(str(h.examples))} " if h.examples is not None else "the ")
        + "conversations held out of every training phase"
        + (f" ({svg.fmt_num(tokens)} assistant tokens)" if tokens else "")
        + ". adapter − base is the mean over conversations of each one's paired difference, 95 % bootstrap CI over "
        "conversations: it shows learning even when a small budget leaves the generations unchanged. Buckets are "
        "tested together (paired bootstrap, Holm), with no verdict below 20 conversations.</p>"
        + table(
            ["bucket", "conversations", "base", "adapter", "adapter − base (95 % CI)", "verdict"], rows, {1, 2, 3, 4}
        )
        + chart
        + (
            '<p class="muted">Dropped from the held-out set: '
            + escape(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dropped.items()))
            + ".</p>"
            if dropped
            else ""
        ),
    )


def _with_n(e: Estimate | None) -> str:
    if e is None:
        return escape(Estimate().text())
    return escape(e.text()) + (f' <span class="muted">n={escape(str(e.n))}</span>' if e.n is not None else "")


def _estimate(v: Any) -> Estimate | None:
    """An estimate inside eval.json's untyped `dialogues` block, read through the record."""
    return Estimate.model_validate(v) if isinstance(v, dict) else None


def primary_card(r: RunResults) -> str:
    """The pre-declared primary metric, overall and per context, with n and the Holm-corrected paired tests."""
    p = r.primary()
    if p is None:
        return ""
    # Every side evaluated (base, prompted, adapter), in the order eval.json lists them.
    sides = [m for m in (r.eval.sides or MODELS) if m in p.sides]
    diff = p.difference
    rows = [
        ["<b>all (macro over contexts)</b>", *[_with_n(p.sides[m]) for m in sides]]
        + ([_with_n(diff), ""] if diff else [])
    ]
    for c in p.contexts:
        d = diff.per_context.get(c) if diff else None
        test = (d.mcnemar if d else None) or PairedTest()
        row = [escape(str(c)), *[_with_n(p.sides[m].per_context.get(c)) for m in sides]]
        if diff:
            p_holm = test.p_holm
            verdict = escape(test.verdict or "n/a")
            row += [
                escape(f"{d.mean:+.3f}") + f' <span class="muted">n={d.n}</span>' if d else na(),
                verdict + (f' <span class="muted">p<sub>Holm</sub>={p_holm:.3g}</span>' if p_holm is not None else ""),
            ]
        rows.append(row)
    headers = ["context", *sides] + (["adapter − base", "paired test (McNemar, Holm)"] if diff else [])
    missing = {m: p.sides[m].missing for m in sides if p.sides[m].missing}
    min_n = r.eval.tests.min_n_for_verdict if r.eval.tests else None
    return card(
        "Primary metric: appropriate-response rate",
        "<p>"
        + escape(p.definition or "share of checked items whose reply passes its checks")
        + ". Checks decide content (right number, passing unit tests, right call and arguments, named elements), "
        "so a fixed template or an echo of the prompt scores near zero. Pre-declared; everything below is secondary."
        + (f" No verdict below {int(min_n)} paired items." if min_n else "")
        + "</p>"
        + table(headers, rows, set(range(1, len(headers))))
        + (
            '<p class="muted">Left out (no reply), counted: '
            + escape(", ".join(f"{m} {k} items" for m, k in missing.items()))
            + ".</p>"
            if missing
            else ""
        ),
    )


def dialogues_card(r: RunResults) -> str:
    """The checked dialogues: pass rate per kind and side, what history buys, transition cost, retest."""
    d = r.eval.dialogues if r.eval else None
    if not d or not d.get("sides"):
        return ""
    per_side: dict[str, dict[str, Any]] = d["sides"]
    sides = [s for s in per_side if s in r.eval.sides and not s.endswith("no_history")] or list(per_side)
    history: dict[str, dict[str, Any]] = d.get("history_effect") or {}
    with_history = [s for s in sides if s in history]  # sides whose no-history control was generated
    blank = [""] * len(with_history)
    rows = []
    for kind in d.get("kinds") or {}:
        row = [escape(kind.replace("_", " "))] + [_with_n(_estimate(per_side[s].get(kind))) for s in sides]
        row += [
            _with_n(_estimate(history[s][kind].get("difference"))) if kind in history[s] else na() for s in with_history
        ]
        rows.append(row)
    retest = [_with_n(_estimate(per_side[s].get("retest_consistency"))) for s in sides]
    rows.append([escape("retest: right again, of right first"), *retest, *blank])
    cost = [_estimate((per_side[s].get("transition_cost") or {}).get("difference")) for s in sides]
    cost_cells = [_with_n(c) if c is not None else na() for c in cost]
    rows.append([escape("transition cost: fresh − after other turns"), *cost_cells, *blank])
    headers = ["", *sides] + [f"{s}: with − without history" for s in with_history]
    family = [PairedTest.model_validate(t) for t in (d.get("tests") or {}).get("family") or []]
    decided = [t for t in family if (t.verdict or "").split(" (")[0] not in ("no verdict", "not significant")]
    return card(
        "Multi-turn checks",
        "<p>Dialogues whose judged turn depends on earlier ones (memory, a topic shift and return, a revision), a "
        "checked item asked after turns in another register (its cost against the same item asked fresh), and a "
        "question asked again after other turns. The no-history control answers each turn alone: history must "
        "beat it. Pass rates with 95 % CIs and n; tests paired (McNemar), Holm-corrected as one family.</p>"
        + table(headers, rows, set(range(1, len(headers))))
        + (
            '<p class="muted">Significant after correction: '
            + escape(
                "; ".join(f"{t.metric} {(t.model_extra or {}).get('side')} {t.context}: {t.verdict}" for t in decided)
            )
            + ".</p>"
            if decided
            else '<p class="muted">Nothing significant after correction.</p>'
        ),
    )


def _per_context(r: RunResults, model: str, ctx: str) -> tuple[float | None, float | None, float | None]:
    side = r.eval.range.sides.get(model) if r.eval and r.eval.range else None
    e = side.per_context.get(ctx) if side else None
    return (e.mean, e.lo, e.hi) if e else (None, None, None)


def _side(g: dict[str, Any]) -> str:
    return str(g.get("side", "adapter"))


def _style_profiles(r: RunResults) -> dict[str, dict[str, dict[str, float]]]:
    """Mean style profile per side and expected context over the single-prompt replies."""
    sums: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for g in r.generations:
        prof = g.get("profile")
        if g.get("kind", "prompt") != "prompt" or not isinstance(prof, dict) or not g.get("context"):
            continue
        for f, v in prof.items():
            if as_float(v) is not None:
                sums[_side(g)][str(g["context"])][f].append(as_float(v))
    return {
        side: {ctx: {f: sum(v) / len(v) for f, v in feats.items()} for ctx, feats in per.items()}
        for side, per in sums.items()
    }


def _radars(r: RunResults) -> str:
    profiles = _style_profiles(r)
    contexts = [c for c in dict.fromkeys(c for m in profiles.values() for c in m)]
    if not contexts:
        return ""
    present = list(dict.fromkeys(f for m in profiles.values() for c in m.values() for f in c))
    features = [f for f in RADAR_FEATURES if f in present] or present[:10]
    # Each feature is scaled by its largest value over models and contexts so axes are comparable.
    top = {
        f: max((abs(profiles[m][c].get(f, 0.0)) for m in profiles for c in profiles[m]), default=0.0) or 1.0
        for f in features
    }
    cells = []
    for ctx in contexts:
        series = [
            # sqrt: rare traits (one code block in ten replies) stay visible beside frequent ones
            (m, [math.sqrt(abs(profiles[m].get(ctx, {}).get(f, 0.0)) / top[f]) for f in features], MODEL_COLOUR[m])
            for m in MODELS
            if ctx in profiles.get(m, {})
        ]
        chart = svg.radar([f.replace("_", " ") for f in features], series, label=f"style profile {ctx}")
        if chart:
            cells.append(f'<div><h4 style="margin:0 0 4px;text-align:center">{escape(ctx)}</h4>{chart}</div>')
    return f'<div class="grid3">{"".join(cells)}</div>' + svg.legend([(m, MODEL_COLOUR[m]) for m in MODELS])


def _trajectories(r: RunResults) -> list[dict[str, Any]]:
    """Transition dialogues as {id, shift_at, label, scores: {model: [per-turn on-target score]}}.

    `shift_at` is the 0-based index of the first user turn in the new context (as in the suite files).
    """
    # Per-turn records of transition dialogues in generations.jsonl (what `emergent eval` writes): the
    # on-target score of a turn is the scorer's probability of the context that turn expects.
    turns: dict[str, dict[str, Any]] = {}
    for g in r.generations:
        if g.get("kind") != "transition" or g.get("id") is None:
            continue
        did = str(g["id"])
        e = turns.setdefault(did, {"id": did, "contexts": {}, "scores": defaultdict(dict)})
        e["shift_at"] = as_float(g.get("shift_at"))
        t = int(as_float(g.get("turn")) or 0)
        e["contexts"][t] = g.get("context")
        probs = g.get("probs") if isinstance(g.get("probs"), dict) else {}
        e["scores"][_side(g)][t] = as_float(probs.get(g.get("context")))
    out = []
    for e in turns.values():
        ctx = [e["contexts"][t] for t in sorted(e["contexts"])]
        label = f"{ctx[0]} → {ctx[-1]}" if ctx and ctx[0] != ctx[-1] else e["id"]
        scores = {m: [v[t] for t in sorted(v)] for m, v in e["scores"].items()}
        out.append({"id": e["id"], "label": label, "shift_at": e.get("shift_at"), "scores": scores})
    return out


def _trajectory_charts(r: RunResults, limit: int = 6) -> str:
    cells = []
    for d in _trajectories(r)[:limit]:
        series = [
            (m, [(i + 1, v) for i, v in enumerate(d["scores"].get(m, []))], MODEL_COLOUR[m])
            for m in MODELS
            if d["scores"].get(m)
        ]
        shift = d.get("shift_at")
        # Turns are drawn 1-based; the rule sits just before the first turn in the new context.
        vl = [(shift + 0.5, "topic shift")] if shift is not None else []
        chart = svg.line_chart(
            series,
            vlines=vl,
            x_label="turn",
            y_label="P(expected context)",
            y_range=(0.0, 1.0),
            height=240,
            width=440,
            markers=True,
            integer_x=True,
            label=f"trajectory {d['id']}",
        )
        if chart:
            cells.append(f'<div><h4 style="margin:0 0 4px">{escape(str(d.get("label")))}</h4>{chart}</div>')
    if not cells:
        return ""
    return f'<div class="grid2">{"".join(cells)}</div>' + svg.legend([(m, MODEL_COLOUR[m]) for m in MODELS])


def _extras(r: RunResults) -> str:
    """Collapse diagnostics (distinct-n, self-BLEU, compression) and any other scalar per model."""
    node = r.eval.collapse
    sides = [node.sides.get(m) if node else None for m in MODELS]
    rows = []
    for k in ("distinct_1", "distinct_2", "self_bleu", "compression_ratio"):
        figures = [getattr(s, k) if s else None for s in sides]
        vals = [f if isinstance(f, Estimate) else Estimate(mean=f) for f in figures]
        if any(v.mean is not None for v in vals):
            rows.append([escape(k.replace("_", " "))] + [escape(v.text()) for v in vals])
    return table(["diagnostic", "base", "adapter"], rows, {1, 2}) if rows else ""


def _contamination(r: RunResults) -> str:
    """The suite's n-gram overlap with the training mixture, so a reader knows the scores are not recall."""
    c = r.eval.contamination
    if c is None:
        return ""
    if not c.checked:
        return f'<p class="na">Not checked: {escape(c.reason or "n/a")}</p>'
    ids = c.contaminated
    rate = c.rate
    return (
        (
            f"<p>{len(ids)} of {escape(str(c.items if c.items is not None else 'n/a'))} suite items share a "
            f"{escape(str(c.ngram if c.ngram is not None else 13))}-gram "
            f"with the training mixture ({rate * 100:.1f} %)"
            if rate is not None
            else "<p>n/a"
        )
        + (f": <code>{escape(', '.join(map(str, ids[:20])))}</code>" if ids else "")
        + ".</p>"
    )


def _chance(r: RunResults) -> str:
    collapse = r.eval.collapse
    sides = [collapse.sides.get(m) if collapse else None for m in MODELS]
    chance = [s.context_predictability.chance for s in sides if s and s.context_predictability]
    chance = [c for c in chance if c is not None]
    return f'<p class="muted">Context predictability at chance level would be {chance[0]:.2f}.</p>' if chance else ""


def evaluation_section(r: RunResults) -> str:
    """Base vs adapter: headline metrics with CIs, per-context range, confusion, style radar, transitions."""
    if r.eval is None:
        return (
            '<section id="evaluation"><h2>Evaluation</h2>'
            + missing("evaluation results", "emergent eval CONFIG")
            + "</section>"
        )
    rows = [
        [
            escape(label),
            escape(b.text()),
            escape(a.text()),
            escape(d.text()),
            # A figure a control reaches gets no verdict, whatever its interval: it is never tested.
            '<span class="pill na">not evidence</span>' if REACHED in label else _verdict(d, better),
        ]
        for label, b, a, d, better in headline_rows(r)
    ]
    contexts = r.contexts()
    per_ctx = svg.grouped_bars_ci(
        contexts,
        [(m, [_per_context(r, m, c) for c in contexts], MODEL_COLOUR[m]) for m in MODELS],
        label="on-target rate per context",
    )
    heat = []
    for m in MODELS:
        side = r.eval.range.sides.get(m) if r.eval.range else None
        c = side.confusion if side else None
        if c and c.labels:
            counts = [[float(x) for x in row] for row in c.rows_expected_cols_predicted]
            heat.append(
                f"<div><h4 style='margin:0 0 4px'>{m}</h4>{svg.heatmap(counts, c.labels, c.labels, label=f'confusion {m}')}</div>"
            )
    judge_html = _judge(r)
    n = r.eval.suite.prompts if r.eval.suite else None
    return (
        '<section id="evaluation"><h2>Evaluation</h2><p class="lead">Did the personality emerge? Base model and adapter '
        "on the same suite with the same chat template and decoding; 95 % bootstrap intervals in brackets"
        + (f" ({escape(str(n))} prompts)" if isinstance(n, (int, float)) else "")
        + ".</p>"
        + primary_card(r)
        + dialogues_card(r)
        + card(
            "Headline metrics",
            (
                '<p class="muted">Register metrics come from a style scorer that reads the register of a reply '
                "from a source it never saw right about 81 % of the time (weaker on conversational and factual "
                "replies); those marked as reached by a control are what a keyword router or an echo of the "
                "prompt also scores, so they are shown, never tested. Read them as secondary to the primary "
                "metric above.</p>"
                if r.primary()
                else ""
            )
            + (table(["metric", "base", "adapter", "adapter − base", "verdict"], rows, {1, 2, 3}) if rows else ""),
        )
        + heldout_card(r)
        + card("On-target rate per context (95 % CI)", per_ctx)
        + card(
            "Predicted context vs expected context (row %, blue = correct)",
            f'<div class="grid2">{"".join(heat)}</div>' if heat else "",
        )
        + card(
            "Style profile per context (mean over replies; each axis scaled to its largest value, square root)",
            _radars(r),
        )
        + card("Transition dialogues: on-target score per turn", _trajectory_charts(r))
        + card("Collapse diagnostics", _extras(r) + _chance(r))
        + (card("Contamination of the suite", _contamination(r)) if r.eval.contamination is not None else "")
        + judge_html
        + "</section>"
    )


def _judge(r: RunResults) -> str:
    """The LLM judge's figures: items judged, parse rate, each side's rubric score, win and flip rates."""
    j = r.eval.judge if r.eval else None
    if j is None:
        return ""
    figures = [("items", Estimate(mean=j.items)), ("parse_rate", Estimate(mean=j.parse_rate))]
    figures += [(f"rubric_{side}", j.rubric(side) or Estimate()) for side in j.pair]
    figures += [
        (k, getattr(j, k) or Estimate())
        for k in ("win_rate", "length_controlled_win_rate", "flip_rate", "p_prefers_longer")
    ]
    rows = [[escape(k.replace("_", " ")), escape(e.text())] for k, e in figures if e.mean is not None]
    return card("LLM judge", table(["figure", "value"], rows, {1})) if rows else ""


def _response_pairs(r: RunResults) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """{context: [(prompt, {side: response})]} from generations.jsonl (evaluate/run.generation_rows), single
    prompts first."""
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for g in r.generations:
        prompt = g.get("prompt")
        if not prompt:
            continue
        ctx = str(g.get("context") or "other")
        key = (ctx, str(g.get("id", prompt)) + f"#{g.get('turn', '')}")
        entry = pairs.setdefault(key, {"prompt": str(prompt), "responses": {}, "kind": str(g.get("kind", ""))})
        if g.get("side") and g.get("response") is not None:
            entry["responses"][str(g["side"])] = str(g["response"])
    out: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
    for (ctx, _), e in sorted(pairs.items(), key=lambda kv: (kv[1]["kind"] not in ("", "prompt", "single"), kv[0])):
        out[ctx].append((e["prompt"], e["responses"]))
    return out


def _reply(text: str | None) -> str:
    if text is None:
        return '<span class="na">(not generated)</span>'
    return escape(text) if text.strip() else '<span class="na">(empty reply)</span>'


def samples_section(r: RunResults, per_context: int = 3) -> str:
    """Side-by-side base and adapter responses to the same prompts, a few per context."""
    pairs = _response_pairs(r)
    if not pairs:
        return (
            '<section id="samples"><h2>Sample responses</h2>'
            + missing("generations", "emergent eval CONFIG")
            + "</section>"
        )
    blocks = []
    for ctx in sorted(pairs):
        items = []
        for i, (prompt, resp) in enumerate(pairs[ctx][:per_context]):
            cols = "".join(
                f'<div><span class="who {m}">{m}</span><pre>{_reply(resp.get(m))}</pre></div>' for m in MODELS
            )
            items.append(
                f'<details class="sample"{" open" if i == 0 else ""}><summary>{escape(prompt[:140])}</summary>'
                + (f'<p class="prompt">{escape(prompt)}</p>' if len(prompt) > 140 else "")
                + f'<div class="pair">{cols}</div></details>'
            )
        blocks.append(card(ctx, "".join(items)))
    return (
        '<section id="samples"><h2>Sample responses</h2><p class="lead">The same prompt to the base model and to the '
        "adapter, greedy decoding, no persona tags.</p>" + "".join(blocks) + "</section>"
    )
