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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emergent.evaluate import metrics as M
from emergent.evaluate import stats
from emergent.evaluate.contamination import contamination
from emergent.evaluate.generate import EndpointGenerator, LocalGenerator, run_items
from emergent.evaluate.scorer import StyleScorer
from emergent.evaluate.suite import Suite, load_suite
from emergent.progress import counter_progress

if TYPE_CHECKING:
    from emergent.config import RunConfig


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


def generation_rows(suite: Suite, replies: dict[str, list[str]], side: str) -> list[dict[str, Any]]:
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
        for it in suite.items
        for t, reply in enumerate(replies[it.id])
    ]


STYLE_KEYS = ("predicted", "probs", "style_hit", "profile")


def add_style(rows: list[dict[str, Any]], scorer: StyleScorer) -> list[dict[str, Any]]:
    """The scorer's prediction and the style profile on every row that does not carry them yet."""
    todo = [r for r in rows if not all(k in r for k in STYLE_KEYS)]
    known = set(scorer.contexts)
    scores = scorer.score(
        [r["response"] for r in todo], [r["context"] if r["context"] in known else None for r in todo]
    )
    for r, s in zip(todo, scores, strict=True):
        r.update(predicted=s["context"], probs=s["probs"], style_hit=s["style_hit"], profile=s["profile"])
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
    tb, ta = M.transition_scores(base), M.transition_scores(adapter)
    pairs = {
        "range": (M.range_scores(base), M.range_scores(adapter), 1),
        "consistency": (M.consistency_scores(base), M.consistency_scores(adapter), 1),
        "transitions": (
            {k: v["turns_to_switch"] for k, v in tb.items()},
            {k: v["turns_to_switch"] for k, v in ta.items()},
            -1,  # fewer turns to switch is better
        ),
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
    head, tests, per_item = primary(suite.items, rows_by_side, n, seed)
    for side, rows in rows_by_side.items():  # each row of a checked item's judged turn carries its verdict
        for r in rows:
            v = per_item[side].get(r["id"])
            if v is not None and r.get("turn", 0) == len(by_id[r["id"]].turns) - 1:
                r["check"] = {"passed": v["passed"], "score": round(v["score"], 4), "checks": v["checks"]}
    # The register metrics read the scorer's contexts only (it has no prototype for e.g. instructional).
    known = [c for c in contexts if c in scorer.contexts]
    styled = {
        side: [r for r in add_style(rows, scorer) if r["context"] in known] for side, rows in rows_by_side.items()
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
        "contexts": contexts,
    }


def evaluate(
    cfg: RunConfig,
    out: Path,
    adapter: Path | None,
    base_only: bool = False,
    show_progress: bool = True,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the suite on the base model (and the adapter), score, write OUT/eval.json + generations.jsonl.

    `data_dir` (default OUTPUT_DIR/data): the built data the adapter was trained on — its held-out set
    is scored, and its mixture is checked for suite prompts (contamination).
    """
    from emergent.models import resolve_model_path

    ec = cfg.eval
    started = time.time()
    if data_dir is not None and not Path(data_dir).is_dir():
        raise FileNotFoundError(f"{data_dir}: data folder not found — pass the folder `emergent data build` wrote")
    data_dir = Path(data_dir) if data_dir is not None else cfg.output_dir / "data"
    suite = load_suite(
        ec.suites, ec.contexts, ec.prompts_per_context, ec.consistency_dialogues, ec.transition_dialogues
    )
    if not suite.prompts:
        raise ValueError(f"the suite has no prompts for contexts {ec.contexts} — check eval.suites and eval.contexts")
    use_endpoint = bool(ec.endpoint.base_url)
    adapter_dir = None if use_endpoint else _adapter_path(cfg, adapter, base_only)
    scorer = StyleScorer(ec.prototypes)
    if use_endpoint:
        gen: LocalGenerator | EndpointGenerator = EndpointGenerator(ec.endpoint, ec.decoding)
        model_name = ec.endpoint.model
    else:
        model_name = resolve_model_path(cfg.model.name)
        gen = LocalGenerator(
            model_name, adapter_dir, ec.decoding, ec.batch_size, ec.device, cfg.model.trust_remote_code, ec.precision,
            cfg.model.chat_template,
        )  # fmt: skip
    sides = ["base"] + (["adapter"] if gen.has_adapter and not base_only else [])
    turns_total = sum(len(it.turns) for it in suite.items)
    out.mkdir(parents=True, exist_ok=True)
    scored: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    with counter_progress(show_progress) as progress:
        for side in sides:
            task = progress.add_task(f"generate ({side})", total=turns_total)
            t0 = time.time()
            replies = run_items(gen, suite.items, side == "adapter", lambda k, task=task: progress.advance(task, k))
            seconds[f"generate_{side}"] = round(time.time() - t0, 1)
            scored[side] = generation_rows(suite, replies, side)
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
        "sides": sides,
        "device": gen.device,
        "precision": gen.precision,
        "decoding": ec.decoding.model_dump(),
        "suite": suite_summary(suite, ec.suites, contexts),
        "scorer": {"prototypes": ec.prototypes, **scorer.protos.meta},
        "sandbox": sandbox_layers(),
        **scores,
    }
    result["heldout"] = None
    if ec.heldout.enabled and isinstance(gen, LocalGenerator):
        from emergent.evaluate.heldout import heldout_loss

        h = ec.heldout
        with counter_progress(show_progress) as progress:
            progress.add_task("held-out loss", total=None)
            result["heldout"] = heldout_loss(
                gen, data_dir, h.max_seq_len or cfg.training.max_seq_len, h.max_examples, h.batch_size, sides, n, seed
            )
        if result["heldout"]:
            seconds["heldout"] = result["heldout"]["seconds"]
    result["contamination"] = contamination(
        suite.items, data_dir if data_dir.exists() else None, ec.contamination_ngram
    )
    result["judge"] = None
    if ec.judge.enabled and "adapter" in scored:
        from emergent.evaluate.judge import Judge

        pairs = {r["id"]: r for r in scored["base"] if r["kind"] == "prompt"}
        items = [
            {
                "id": r["id"],
                "context": r["context"],
                "prompt": r["prompt"],
                "base": pairs[r["id"]]["response"],
                "adapter": r["response"],
            }
            for r in scored["adapter"]
            if r["kind"] == "prompt" and r["id"] in pairs
        ]
        t0 = time.time()
        result["judge"] = Judge(ec.judge).run(items, n, seed)
        seconds["judge"] = round(time.time() - t0, 1)
    seconds["total"] = round(time.time() - started, 1)
    result["seconds"] = seconds
    (out / "eval.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result
