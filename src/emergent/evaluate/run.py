"""`emergent eval`: generate the suite with base and adapter, score every reply, compute the metrics.

Writes OUT/generations.jsonl (every prompt, turn and reply, with its checks and style score) and
OUT/eval.json, led by `primary` (the appropriate-response rate, evaluate/primary.py) with its paired
tests, then the secondary metrics (range, consistency, transitions, collapse, depth — base, adapter and
adapter − base, each with ci95), the held-out loss, contamination, the optional judge and run facts.
`score_generations` is the scoring half alone: `emergent eval score` runs it on a generations file.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emergent.evaluate import metrics as M
from emergent.evaluate import stats
from emergent.evaluate.cache import GenerationCache, SideSpec, folder_digest
from emergent.evaluate.config import EvalConfig, suite_limits
from emergent.evaluate.contamination import contamination
from emergent.evaluate.dialogue import dialogues as dialogue_figures
from emergent.evaluate.generate import EndpointGenerator, run_items
from emergent.evaluate.scorer import StyleScorer, boilerplate_words, register_fit
from emergent.evaluate.suite import Item, Suite, load_suite
from emergent.handoff import write_eval_result
from emergent.lm.generation import LocalGenerator
from emergent.progress import counter_progress

if TYPE_CHECKING:
    from emergent.config import RunConfig


def suite_for(ec: EvalConfig) -> Suite:
    """The items an evaluation with these settings asks: its suites, contexts and subset limits."""
    return load_suite(ec.suites, ec.contexts, **suite_limits(ec))


def _adapter_path(cfg: RunConfig, adapter: Path | None, base_only: bool) -> Path | None:
    if base_only:
        return None
    if adapter is None:
        adapter = cfg.output_dir / "train" / "adapter"
        if not adapter.is_dir():
            raise FileNotFoundError(
                f"{adapter}: no adapter found — run `emergent train` first, pass --adapter DIR, or use --base-only"
            )
    if not Path(adapter).is_dir():
        raise FileNotFoundError(f"{adapter}: adapter folder not found — pass the adapter/ written by `emergent train`")
    return Path(adapter)


def side_specs(
    gen: LocalGenerator, sides: list[str], ec: Any, model_path: str, adapter_dir: Path | None
) -> dict[str, SideSpec]:
    """The cache key of each side a local model generates."""
    model = folder_digest(Path(model_path))
    adapter = folder_digest(adapter_dir) if adapter_dir is not None else None
    return {
        side: SideSpec(
            side=side,
            model=model,
            adapter=adapter if side == "adapter" else None,
            system_prompt=ec.prompted.system_prompt if side == "prompted" else None,
            history=True,
            decoding=ec.decoding.model_dump(),
            precision=gen.precision,
            device=gen.device,
            batch_size=gen.batch_size,
        )
        for side in sides
    }


NO_HISTORY = "_no_history"  # the suffix of a side that answered the dialogues turn by turn, without history


def no_history_side(side: str) -> str:
    return "no_history" if side == "base" else f"{side}{NO_HISTORY}"


def is_no_history(side: str) -> bool:
    return side == "no_history" or side.endswith(NO_HISTORY)


def generation_rows(
    suite: Suite, replies: dict[str, list[str]], side: str, items: list[Item] | None = None
) -> list[dict[str, Any]]:
    """One record per (item, turn): the generations.jsonl schema before scoring."""
    return [
        {
            "side": side,
            "id": it.id,
            "kind": it.kind,
            "turn": t,
            "shift_at": it.shift_at,
            "context": it.contexts[t],
            "prompt": it.turns[t],
            "response": reply,
        }
        for it in (suite.items if items is None else items)
        for t, reply in enumerate(replies[it.id])
    ]


STYLE_KEYS = ("predicted", "probs", "style_hit", "profile")
# The kinds the register metrics read; checked dialogues are scored by their checks (evaluate/dialogue.py).
STYLED_KINDS = ("prompt", "consistency", "transition")


def add_style(
    rows: list[dict[str, Any]], scorer: StyleScorer, families: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The scorer's prediction and the style profile on every row that does not carry them yet; register fit
    on every row (add_fit)."""
    todo = [r for r in rows if not all(k in r for k in STYLE_KEYS)]
    known = set(scorer.contexts)
    scores = scorer.score(
        [r["response"] for r in todo], [r["context"] if r["context"] in known else None for r in todo]
    )
    for r, s in zip(todo, scores, strict=True):
        r.update(predicted=s["context"], probs=s["probs"], style_hit=s["style_hit"], profile=s["profile"])
    return add_fit(rows, known, families)


def add_fit(
    rows: list[dict[str, Any]], known: set[str], families: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Register fit on every row of one side, recomputed every time (cheap, unlike the prediction): a file scored
    again after the rule changed (session 22) must not keep the verdict it carries. A prose reply that is the
    side's reply to another family of requests with this one's words put in does not fit (checks/template.py);
    `families` maps item ids to their family (an id not in it is its own)."""
    from emergent.evaluate.checks import template

    prompts: dict[str, set[str]] = {}
    for r in rows:
        prompts.setdefault(r["context"], set()).add(r.get("prompt") or "")
    boiler = boilerplate_words(prompts)
    for r in rows:
        expected = r["context"] if r["context"] in known else None
        r["fit"] = register_fit(r["response"], r.get("prompt") or "", expected, r["predicted"], boiler[r["context"]])
    # Prose only: a tool call or a code block is rightly the same shape from request to request.
    structured = ("code_block", "json_valid", "tool_call_shape")
    fitting = {n: r for n, r in enumerate(rows) if r["fit"] and not any(r["profile"].get(k) for k in structured)}
    family = families or {}
    repeated = template.templates(
        {n: (r["response"], r.get("prompt") or "", family.get(r["id"], r["id"])) for n, r in fitting.items()}
    )
    for n in repeated:
        fitting[n]["fit"] = False
    return rows


def side_metrics(turns: list[dict[str, Any]], contexts: list[str], n: int, seed: int) -> dict[str, Any]:
    return {
        "range": M.behavioural_range(turns, contexts, n, seed),
        "consistency": M.consistency(turns, n, seed),
        "transitions": M.transitions(turns, n, seed),
        "collapse": M.collapse(turns, n, seed),
        "depth": M.depth(turns, n, seed),
    }


def differences(base: list[dict[str, Any]], adapter: list[dict[str, Any]], n: int, seed: int) -> dict[str, Any]:
    """adapter − base per metric, paired by suite item."""
    tb, ta = M.transition_scores(base), M.transition_scores(adapter)
    cb, _, _ = M.context_predictability(base, seed)
    ca, _, _ = M.context_predictability(adapter, seed)
    return {
        "range": M.paired_difference(M.range_scores(base), M.range_scores(adapter), n, seed),
        "consistency": M.paired_difference(M.consistency_scores(base), M.consistency_scores(adapter), n, seed),
        "transitions": M.paired_difference(
            {k: v["turns_to_switch"] for k, v in tb.items()}, {k: v["turns_to_switch"] for k, v in ta.items()}, n, seed
        ),
        "collapse": M.paired_difference(
            {k: float(v) for k, v in cb.items()}, {k: float(v) for k, v in ca.items()}, n, seed
        ),
    }


def _secondary_tests(base: list[dict[str, Any]], adapter: list[dict[str, Any]], n: int, seed: int) -> list[dict]:
    """Paired bootstrap tests of the secondary metrics, signed so that effect > 0 means adapter better."""
    pairs = {  # not the figures a control reaches (metrics.REACHED_BY_CONTROLS)
        "fit": (M.fit_scores(base), M.fit_scores(adapter), 1),
        "consistency": (M.consistency_scores(base), M.consistency_scores(adapter), 1),
    }
    tests = []
    for metric, (b, a, sign) in pairs.items():
        keys = sorted(set(b) & set(a))
        t = stats.paired_bootstrap([a[k] - b[k] for k in keys], n, seed)
        t.update(metric=metric, context="all", effect=(t["mean"] or 0) * sign)
        tests.append(t)
    return tests


def score_generations(
    suite: Suite,
    rows_by_side: dict[str, list[dict[str, Any]]],
    scorer: StyleScorer,
    contexts: list[str],
    n: int,
    seed: int,
) -> dict[str, Any]:
    """Every figure of eval.json that comes from the replies: primary first, its tests, then the secondary metrics.

    Rows whose item is not in the suite are ignored and counted; suite items without a reply are left
    out of every figure and counted per side (`coverage`).
    """
    from emergent.evaluate.primary import primary

    ids = {it.id for it in suite.items}
    by_id = {it.id: it for it in suite.items}
    coverage: dict[str, Any] = {}
    for side, rows in rows_by_side.items():
        answered = {r["id"] for r in rows if r["id"] in ids}
        missing = sorted(ids - answered)
        coverage[side] = {
            "items": len(answered),
            "missing": len(missing),
            "missing_ids": missing[:20],
            "unknown_rows": sum(1 for r in rows if r["id"] not in ids),
        }
        rows_by_side[side] = [r for r in rows if r["id"] in ids]
        for r in rows_by_side[side]:  # a generations file may hold only the schema's fields
            it = by_id[r["id"]]
            r.setdefault("kind", it.kind)
            r.setdefault("shift_at", it.shift_at)
            r.setdefault("context", it.contexts[min(r.get("turn", 0), len(it.contexts) - 1)])
    everything = rows_by_side
    rows_by_side = {s: r for s, r in everything.items() if not is_no_history(s)}
    head, tests, per_item = primary(suite.items, rows_by_side, n, seed)
    for side, rows in rows_by_side.items():  # each row of a checked item's judged turn carries its verdict
        for r in rows:
            v = per_item[side].get(r["id"])
            if v is not None and r.get("turn", 0) == len(by_id[r["id"]].turns) - 1:
                r["check"] = {"passed": v["passed"], "score": round(v["score"], 4), "checks": v["checks"]}
    # The register metrics read the scorer's contexts only (it has no prototype for e.g. instructional).
    known = [c for c in contexts if c in scorer.contexts]
    families = suite.families
    styled = {
        side: [
            r
            for r in add_style([r for r in rows if r["kind"] in STYLED_KINDS], scorer, families)
            if r["context"] in known
        ]
        for side, rows in rows_by_side.items()
    }
    per_side = {side: side_metrics(rows, known, n, seed) for side, rows in styled.items()}
    diff = None
    if "base" in styled and "adapter" in styled:
        diff = differences(styled["base"], styled["adapter"], n, seed)
        tests += _secondary_tests(styled["base"], styled["adapter"], n, seed)
    return {
        "primary": head,
        "tests": {
            "correction": "holm",
            "alpha": stats.ALPHA,
            "min_n_for_verdict": stats.MIN_N,
            "family": stats.verdicts(tests),
        },
        "coverage": coverage,
        "dialogues": dialogue_figures(suite.items, everything, n, seed) if suite.dialogues else None,
        **assemble(per_side, diff),
    }


def assemble(per_side: dict[str, dict[str, Any]], diff: dict[str, Any] | None) -> dict[str, Any]:
    """Regroup {side: {metric: ...}} into {metric: {base, adapter, difference}} (the eval.json shape)."""
    out: dict[str, Any] = {}
    for metric in ("range", "consistency", "transitions", "collapse", "depth"):
        out[metric] = {side: m[metric] for side, m in per_side.items()}
        if diff is not None and metric in diff:
            out[metric]["difference"] = diff[metric]
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                raise ValueError(f"{path}:{i}: not JSON ({err}) — one JSON object per line") from None
            if not isinstance(row, dict) or not isinstance(row.get("response"), str):
                raise ValueError(f"{path}:{i}: needs a 'response' string (and optionally 'prompt', 'context')")
            rows.append(row)
    return rows


def read_generations(path: Path) -> dict[str, list[dict[str, Any]]]:
    """{side: rows} from a generations.jsonl; every row needs side, id, turn and response."""
    by_side: dict[str, list[dict[str, Any]]] = {}
    for i, row in enumerate(read_jsonl(path), 1):
        missing = [k for k in ("side", "id") if not isinstance(row.get(k), str)]
        if missing or not isinstance(row.get("turn", 0), int):
            raise ValueError(
                f"{path}:{i}: needs side and id strings and an integer turn (the generations.jsonl schema)"
            )
        row.setdefault("turn", 0)
        by_side.setdefault(row["side"], []).append(row)
    if not by_side:
        raise ValueError(f"{path}: no generations — one JSON object per line with side, id, turn, response")
    return by_side


def write_generations(path: Path, rows_by_side: dict[str, list[dict[str, Any]]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for rows in rows_by_side.values():
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def sandbox_layers() -> dict[str, Any]:
    from emergent.evaluate.checks.sandbox import layers

    return layers()


def suite_summary(suite: Suite, files: list[str], contexts: list[str]) -> dict[str, Any]:
    return {
        "files": files,
        "prompts": len(suite.prompts),
        "checked_items": sum(1 for it in suite.items if it.checks),
        "consistency_dialogues": len(suite.consistency),
        "transition_dialogues": len(suite.transitions),
        "checked_dialogues": dict(Counter(d.kind for d in suite.dialogues)),
        "contexts": contexts,
    }


def open_generator(cfg: RunConfig, adapter_dir: Path | None) -> tuple[LocalGenerator | EndpointGenerator, str]:
    """The model that answers: a server named by eval.endpoint, or the local model (+ adapter)."""
    from emergent.lm.registry import resolve_model_path

    ec = cfg.eval
    if ec.endpoint.base_url:
        return EndpointGenerator(ec.endpoint, ec.decoding), ec.endpoint.model
    model_name = resolve_model_path(cfg.model.name)
    gen = LocalGenerator(
        model_name, adapter_dir, ec.decoding, ec.batch_size, ec.device, cfg.model.trust_remote_code, ec.precision,
        cfg.model.chat_template,
    )  # fmt: skip
    return gen, model_name


def generate_sides(
    gen: LocalGenerator | EndpointGenerator,
    suite: Suite,
    ec: EvalConfig,
    wanted: list[str],
    cache: GenerationCache,
    specs: dict[str, SideSpec],
    show_progress: bool,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float], list[str]]:
    """({side: generation rows}, seconds per side, sides reused from the cache), in the order of `wanted`."""
    sides = [s for s in wanted if s != "no_history"]  # no_history is generated after the others, per model
    # (name, items, adapter on, system prompt, history, cache key) per side to generate.
    plan = [
        (side, suite.items, side == "adapter", ec.prompted.system_prompt if side == "prompted" else None, True,
         specs.get(side))
        for side in sides
    ]  # fmt: skip
    if "no_history" in wanted and suite.dialogues:  # the dialogues again, each turn answered alone
        for side in [s for s in sides if s in ("base", "adapter")]:
            alone = no_history_side(side)
            spec = replace(specs[side], side=alone, history=False) if side in specs else None
            plan.append((alone, suite.dialogues, side == "adapter", None, False, spec))
    scored: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    reused: list[str] = []
    with counter_progress(show_progress) as progress:
        for name, items, use_adapter, system_prompt, history, spec in plan:
            t0 = time.time()
            replies = cache.get(spec, items) if spec else None
            if replies is not None:
                reused.append(name)
            else:
                task = progress.add_task(f"generate ({name})", total=sum(len(it.turns) for it in items))
                replies = run_items(
                    gen, items, use_adapter, lambda k, task=task: progress.advance(task, k),
                    system_prompt=system_prompt, history=history,
                )  # fmt: skip
                if spec:
                    cache.put(spec, items, replies)
            seconds[f"generate_{name}"] = round(time.time() - t0, 1)
            scored[name] = generation_rows(suite, replies, name, items)
    return scored, seconds, reused


def heldout_figures(
    gen: LocalGenerator, cfg: RunConfig, data_dir: Path, sides: list[str], show_progress: bool
) -> dict[str, Any] | None:
    """Base vs adapter loss on the build's held-out conversations (the prompted side scores as base)."""
    from emergent.evaluate.heldout import heldout_loss

    h = cfg.eval.heldout
    with counter_progress(show_progress) as progress:
        progress.add_task("held-out loss", total=None)
        return heldout_loss(
            gen, data_dir, h.max_seq_len or cfg.training.max_seq_len, h.max_examples, h.batch_size,
            [s for s in sides if s in ("base", "adapter")], cfg.eval.bootstrap_samples, cfg.seed,
        )  # fmt: skip


def evaluate(
    cfg: RunConfig,
    out: Path,
    adapter: Path | None,
    base_only: bool = False,
    show_progress: bool = True,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the suite on the base model (and the adapter), score, write OUT/eval.json + generations.jsonl.

    generate (every side, cached) → score (checks, primary, tests, register metrics, dialogues) → held-out
    loss → contamination → judge. `data_dir` (default OUTPUT_DIR/data): the built data the adapter was
    trained on — its held-out set is scored, and its mixture is checked for suite prompts (contamination).
    """
    ec = cfg.eval
    started = time.time()
    if data_dir is not None and not Path(data_dir).is_dir():
        raise FileNotFoundError(f"{data_dir}: data folder not found — pass the folder `emergent data build` wrote")
    data_dir = Path(data_dir) if data_dir is not None else cfg.output_dir / "data"
    suite = suite_for(ec)
    if not suite.prompts:
        raise ValueError(f"the suite has no prompts for contexts {ec.contexts} — check eval.suites and eval.contexts")
    adapter_dir = None if ec.endpoint.base_url else _adapter_path(cfg, adapter, base_only)
    scorer = StyleScorer(ec.prototypes)
    gen, model_name = open_generator(cfg, adapter_dir)
    wanted = [s for s in ec.sides if s != "adapter" or (gen.has_adapter and not base_only)]
    sides = [s for s in wanted if s != "no_history"]
    out.mkdir(parents=True, exist_ok=True)
    cache = GenerationCache(Path(ec.generation_cache or cfg.output_dir / "cache" / "generations"))
    specs = side_specs(gen, sides, ec, model_name, adapter_dir) if isinstance(gen, LocalGenerator) else {}
    scored, seconds, reused = generate_sides(gen, suite, ec, wanted, cache, specs, show_progress)
    n, seed = ec.bootstrap_samples, cfg.seed
    contexts = [c for c in ec.contexts if c in suite.contexts()]
    with counter_progress(show_progress) as progress:
        progress.add_task("score (checks, style)", total=None)
        t0 = time.time()
        scores = score_generations(suite, scored, scorer, contexts, n, seed)
        seconds["score"] = round(time.time() - t0, 1)
    write_generations(out / "generations.jsonl", scored)
    result: dict[str, Any] = {
        "primary": scores.pop("primary"),
        "model": cfg.model.name,
        "adapter": str(adapter_dir) if adapter_dir else (ec.endpoint.adapter_model or None),
        "sides": list(scored),
        "device": gen.device,
        "precision": gen.precision,
        "decoding": ec.decoding.model_dump(),
        "prompted_system_prompt": ec.prompted.system_prompt if "prompted" in sides else None,
        "generations_reused": reused,
        "suite": suite_summary(suite, ec.suites, contexts),
        "scorer": {"prototypes": ec.prototypes, **scorer.protos.meta},
        "sandbox": sandbox_layers(),
        **scores,
    }
    result["heldout"] = None
    if ec.heldout.enabled and isinstance(gen, LocalGenerator):
        result["heldout"] = heldout_figures(gen, cfg, data_dir, sides, show_progress)
        if result["heldout"]:
            seconds["heldout"] = result["heldout"]["seconds"]
    result["contamination"] = contamination(
        suite.items, data_dir if data_dir.exists() else None, ec.contamination_ngram
    )
    result["judge"] = None
    if ec.judge.enabled and all(side in scored for side in ec.judge.pair):  # e.g. no adapter with --base-only
        from emergent.evaluate.judge import Judge, judge_items

        t0 = time.time()
        result["judge"] = Judge(ec.judge).run(judge_items(suite.items, scored, ec.judge.pair), n, seed)
        seconds["judge"] = round(time.time() - t0, 1)
    seconds["total"] = round(time.time() - started, 1)
    result["seconds"] = seconds
    write_eval_result(out / "eval.json", result)
    return result
