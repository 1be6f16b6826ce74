"""Report sections for evaluation (base vs adapter with CIs, confusion, style radar, transitions) and samples."""

from __future__ import annotations

import math
from collections import defaultdict
from html import escape
from typing import Any

from emergent.report import svg
from emergent.report.results import MODELS, Estimate, RunResults, as_float, confusion, dig, estimate, first
from emergent.report.sections import card, missing, na, table

# (metric in eval.json, sub-key or "", label, what "better" means). Headline rows first (the KPI cards use
# the first three); sub-keys have no paired-difference CI in eval.json, so their difference is a plain delta.
HEADLINE = (
    ("primary", "", "Appropriate-response rate (primary: passes its checks)", "higher"),
    ("range", "", "Behavioural range (context hit rate)", "higher"),
    ("consistency", "", "Consistency (min over turns)", "higher"),
    ("transitions", "", "Transition (turns to switch)", "lower"),
    ("collapse", "", "Context predictability from style", "higher"),
    ("depth", "", "Contextual depth (Spearman)", "higher"),
    ("range", "style_hit", "Expected-style rule hit rate", "higher"),
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


def _difference(r: RunResults, metric: str) -> Estimate:
    node = dig(r.eval, metric)
    diff = first(node, "difference", "diff", "delta", "adapter_minus_base")
    if diff is not None:
        return (
            estimate(diff)
            if metric != "collapse" or not isinstance(diff, dict)
            else estimate(first(diff, "context_predictability", default=diff))
        )
    b, a = r.eval_metric(metric, "base"), r.eval_metric(metric, "adapter")
    return Estimate(a.mean - b.mean) if a.mean is not None and b.mean is not None else Estimate(None)


def headline_rows(r: RunResults) -> list[tuple[str, Estimate, Estimate, Estimate, str]]:
    """(label, base, adapter, difference, better) for each metric present in eval.json."""
    rows = []
    for key, sub, label, better in HEADLINE:
        if not isinstance(r.eval.get(key), dict):
            continue
        if not sub:
            rows.append((label, r.eval_metric(key, "base"), r.eval_metric(key, "adapter"), _difference(r, key), better))
            continue
        b, a = r.eval_metric(key, "base", sub), r.eval_metric(key, "adapter", sub)
        if b.mean is None and a.mean is None:
            continue
        d = Estimate(a.mean - b.mean) if a.mean is not None and b.mean is not None else Estimate(None)
        rows.append((label, b, a, d, better))
    return rows


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
    if not h:
        return None
    return (
        HELDOUT_LABEL,
        estimate(dig(h, "base", "loss")),
        estimate(dig(h, "adapter", "loss")),
        _difference_of(h),
        "lower",
    )


def _difference_of(node: Any) -> Estimate:
    return (
        estimate(node.get("difference"))
        if isinstance(node, dict) and node.get("difference") is not None
        else Estimate(None)
    )


def heldout_card(r: RunResults) -> str:
    """Base vs adapter loss on the held-out conversations, overall and per bucket, with paired CIs."""
    h = r.heldout()
    if not h:
        return ""
    buckets = {str(k): v for k, v in (h.get("by_category") or {}).items() if isinstance(v, dict)}
    entries = [("all held-out", h.get("examples"), *heldout_row(r)[1:4])] + [
        (b, v.get("examples"), estimate(v.get("base")), estimate(v.get("adapter")), _difference_of(v))
        for b, v in buckets.items()
    ]
    rows = [
        [
            f"<b>{escape(name)}</b>" if i == 0 else escape(name),
            escape(str(n)) if n is not None else na(),
            escape(b.text(4)),
            escape(a.text(4)),
            escape(d.text(4)),
            _verdict(d, "lower"),
        ]
        for i, (name, n, b, a, d) in enumerate(entries)
    ]
    colours = {"better": "#2bb39a", "worse": "#e8744f"}
    chart = svg.intervals(
        [
            (name, d.mean, d.lo, d.hi, colours.get(_significance(d, "lower"), svg.BASE_COLOUR))
            for name, _, _, _, d in entries
        ],
        x_label="adapter − base, nats per token (left of the dashed line: adapter better)",
        label="held-out loss difference per bucket",
    )
    dropped = {k: v for k, v in (h.get("dropped") or {}).items() if v}
    tokens = as_float(h.get("loss_tokens"))
    return card(
        "Held-out loss",
        "<p>Per-token loss (nats per assistant token, lower is better) on "
        + (f"{escape(str(h['examples']))} " if h.get("examples") is not None else "the ")
        + "conversations held out of every training phase"
        + (f" ({svg.fmt_num(tokens)} assistant tokens)" if tokens else "")
        + ". adapter − base is the mean over conversations of each one's paired difference, 95 % bootstrap CI over "
        "conversations: it shows learning even when a small budget leaves the generations unchanged.</p>"
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


def _with_n(e: Any) -> str:
    n = e.get("n") if isinstance(e, dict) else None
    return escape(estimate(e).text()) + (f' <span class="muted">n={escape(str(n))}</span>' if n is not None else "")


def primary_card(r: RunResults) -> str:
    """The pre-declared primary metric, overall and per context, with n and the Holm-corrected paired tests."""
    p = r.primary()
    if not p:
        return ""
    sides = [m for m in MODELS if isinstance(p.get(m), dict)]
    diff = p.get("difference") if isinstance(p.get("difference"), dict) else {}
    per_diff = diff.get("per_context") or {}
    rows = [
        ["<b>all (macro over contexts)</b>", *[_with_n(p[m]) for m in sides]] + ([_with_n(diff), ""] if diff else [])
    ]
    for c in p.get("contexts") or []:
        d = per_diff.get(c) if isinstance(per_diff.get(c), dict) else None
        test = (d or {}).get("mcnemar") or {}
        row = [escape(str(c)), *[_with_n(dig(p, m, "per_context", c)) for m in sides]]
        if diff:
            p_holm = test.get("p_holm")
            verdict = escape(str(test.get("verdict", "n/a")))
            row += [
                escape(f"{d['mean']:+.3f}") + f' <span class="muted">n={d["n"]}</span>' if d else na(),
                verdict + (f' <span class="muted">p<sub>Holm</sub>={p_holm:.3g}</span>' if p_holm is not None else ""),
            ]
        rows.append(row)
    headers = ["context", *sides] + (["adapter − base", "paired test (McNemar, Holm)"] if diff else [])
    missing = {m: p[m].get("missing") for m in sides if p[m].get("missing")}
    return card(
        "Primary metric: appropriate-response rate",
        "<p>"
        + escape(str(p.get("definition", "share of checked items whose reply passes its checks")))
        + ". Checks decide content (right number, passing unit tests, right call and arguments, named elements), "
        "so a fixed template or an echo of the prompt scores near zero. Pre-declared; everything below is secondary."
        + (
            f" No verdict below {int(min_n)} paired items."
            if (min_n := dig(r.eval, "tests", "min_n_for_verdict"))
            else ""
        )
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


def _per_context(r: RunResults, model: str, ctx: str) -> tuple[float | None, float | None, float | None]:
    e = estimate(dig(r.eval, "range", model, "per_context", ctx))
    return e.mean, e.lo, e.hi


def _style_profiles(r: RunResults) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {context: {feature: value}}} from eval.json style (a few plausible layouts)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    style = first(r.eval, "style", "style_profile", "style_profiles", default={})
    if not isinstance(style, dict) or not style:
        return _profiles_from_generations(r)
    for m in MODELS:
        node = dig(style, m) or {}
        node = first(node, "per_context", "profiles", default=node)
        if not isinstance(node, dict):
            continue
        out[m] = {
            ctx: {f: as_float(v) for f, v in feats.items() if as_float(v) is not None}
            for ctx, feats in node.items()
            if isinstance(feats, dict)
        }
    return out


def _side(g: dict[str, Any]) -> str:
    return str(first(g, "side", "model", "variant", default="adapter"))


def _profiles_from_generations(r: RunResults) -> dict[str, dict[str, dict[str, float]]]:
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
    by_id: dict[str, dict[str, Any]] = {}
    for m in MODELS:
        for d in dig(r.eval, "transitions", m, "dialogues") or []:
            if not isinstance(d, dict):
                continue
            did = str(first(d, "id", "dialogue_id", default=len(by_id)))
            entry = by_id.setdefault(did, {"id": did, "scores": {}})
            entry["shift_at"] = as_float(first(d, "shift_at", "shift_turn", "shift"))
            src, dst = first(d, "from", "from_context"), first(d, "to", "to_context")
            entry["label"] = f"{src} → {dst}" if src and dst else did
            scores = first(d, "on_target", "scores", "trajectory", "per_turn", default=[])
            entry["scores"][m] = [
                as_float(first(s, "on_target", "score") if isinstance(s, dict) else s) for s in scores
            ]
    if by_id:
        return list(by_id.values())
    # Per-turn records of transition dialogues in generations.jsonl (what `emergent eval` writes): the
    # on-target score of a turn is the scorer's probability of the context that turn expects.
    turns: dict[str, dict[str, Any]] = {}
    for g in r.generations:
        if str(first(g, "kind", "type", default="")) != "transition" or first(g, "dialogue_id", "id") is None:
            continue
        did = str(first(g, "dialogue_id", "id"))
        e = turns.setdefault(did, {"id": did, "contexts": {}, "scores": defaultdict(dict)})
        e["shift_at"] = as_float(first(g, "shift_at", "shift_turn"))
        t = int(as_float(g.get("turn")) or 0)
        e["contexts"][t] = g.get("context")
        probs = g.get("probs") if isinstance(g.get("probs"), dict) else {}
        score = first(g, "on_target", "score", default=probs.get(g.get("context")))
        e["scores"][_side(g)][t] = as_float(score)
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
    node = r.eval.get("collapse") or {}
    keys = [k for k in dict.fromkeys(k for m in MODELS for k in (node.get(m) or {})) if k != "context_predictability"]
    rows = []
    for k in keys:
        vals = [estimate((node.get(m) or {}).get(k)) for m in MODELS]
        if any(v.mean is not None for v in vals):
            rows.append([escape(k.replace("_", " "))] + [escape(v.text()) for v in vals])
    return table(["diagnostic", "base", "adapter"], rows, {1, 2}) if rows else ""


def _contamination(r: RunResults) -> str:
    """The suite's n-gram overlap with the training mixture, so a reader knows the scores are not recall."""
    c = r.eval.get("contamination")
    if not isinstance(c, dict):
        return ""
    if not c.get("checked"):
        return f'<p class="na">Not checked: {escape(str(c.get("reason", "n/a")))}</p>'
    ids = c.get("contaminated") or []
    rate = as_float(c.get("rate"))
    return (
        (
            f"<p>{len(ids)} of {escape(str(c.get('items', 'n/a')))} suite items share a {escape(str(c.get('ngram', 13)))}-gram "
            f"with the training mixture ({rate * 100:.1f} %)"
            if rate is not None
            else "<p>n/a"
        )
        + (f": <code>{escape(', '.join(map(str, ids[:20])))}</code>" if ids else "")
        + ".</p>"
    )


def _chance(r: RunResults) -> str:
    chance = [as_float(dig(r.eval, "collapse", m, "context_predictability", "chance")) for m in MODELS]
    chance = [c for c in chance if c is not None]
    return f'<p class="muted">Context predictability at chance level would be {chance[0]:.2f}.</p>' if chance else ""


def evaluation_section(r: RunResults) -> str:
    """Base vs adapter: headline metrics with CIs, per-context range, confusion, style radar, transitions."""
    if not r.eval:
        return (
            '<section id="evaluation"><h2>Evaluation</h2>'
            + missing("evaluation results", "emergent eval CONFIG")
            + "</section>"
        )
    rows = [
        [escape(label), escape(b.text()), escape(a.text()), escape(d.text()), _verdict(d, better)]
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
        c = confusion(first(dig(r.eval, "range", m) or {}, "confusion", "confusion_matrix"))
        if c:
            heat.append(
                f"<div><h4 style='margin:0 0 4px'>{m}</h4>{svg.heatmap(c[2], c[0], c[1], label=f'confusion {m}')}</div>"
            )
    judge = r.eval.get("judge")
    judge_html = ""
    if isinstance(judge, dict):
        jr = [
            [escape(k.replace("_", " ")), escape(estimate(v).text())]
            for k, v in judge.items()
            if estimate(v).mean is not None
        ]
        judge_html = card("LLM judge", table(["figure", "value"], jr, {1})) if jr else ""
    n = first(r.eval, "n_prompts", "prompts", "n", default=dig(r.eval, "suite", "prompts"))
    return (
        '<section id="evaluation"><h2>Evaluation</h2><p class="lead">Did the personality emerge? Base model and adapter '
        "on the same suite with the same chat template and decoding; 95 % bootstrap intervals in brackets"
        + (f" ({escape(str(n))} prompts)" if isinstance(n, (int, float)) else "")
        + ".</p>"
        + primary_card(r)
        + card(
            "Headline metrics",
            (
                # The scorer was about 60-73 % accurate on replies from corpora it never saw: not a verdict alone.
                '<p class="muted">Register metrics (range, consistency, transitions, predictability, depth) come '
                "from a style scorer not yet validated on replies from sources outside its build set; read them "
                "as secondary to the primary metric above.</p>"
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
        + (card("Contamination of the suite", _contamination(r)) if "contamination" in r.eval else "")
        + judge_html
        + "</section>"
    )


def _response_pairs(r: RunResults) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """{context: [(prompt, {model: response})]} from generations.jsonl, single prompts first."""
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for g in r.generations:
        prompt = first(g, "prompt", "user")
        if prompt is None and isinstance(g.get("messages"), list):
            users = [m.get("content") for m in g["messages"] if isinstance(m, dict) and m.get("role") == "user"]
            prompt = users[-1] if users else None
        if not prompt:
            continue
        ctx = str(first(g, "context", "expected_context", "category", default="other"))
        key = (ctx, str(first(g, "id", "prompt_id", default=prompt)) + f"#{g.get('turn', '')}")
        entry = pairs.setdefault(key, {"prompt": str(prompt), "responses": {}, "kind": str(g.get("kind", ""))})
        responses = g.get("responses") if isinstance(g.get("responses"), dict) else None
        if responses:
            entry["responses"].update({k: str(v) for k, v in responses.items()})
        for m in MODELS:
            if isinstance(g.get(m), str):
                entry["responses"][m] = g[m]
        model = first(g, "side", "model", "variant", "which")
        if model and first(g, "response", "output", "completion") is not None:
            entry["responses"][str(model)] = str(first(g, "response", "output", "completion"))
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
