"""`emergent eval`: generate the suite with base and adapter, score every reply, compute the metrics.

Writes OUT/generations.jsonl (every prompt, turn and reply, with its score) and OUT/eval.json
(range, consistency, transitions, collapse, depth — base, adapter and adapter − base, each with ci95 —
the held-out loss of both sides on the build's validation set, contamination, the optional judge and
run facts).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emergent.evaluate import metrics as M
from emergent.evaluate.contamination import contamination
from emergent.evaluate.generate import EndpointGenerator, LocalGenerator, run_items
from emergent.evaluate.scorer import StyleScorer
from emergent.evaluate.suite import Item, Suite, load_suite
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


def score_turns(suite: Suite, replies: dict[str, list[str]], scorer: StyleScorer, side: str) -> list[dict[str, Any]]:
    """One record per (item, turn) with the scorer's prediction and the style profile."""
    rows: list[tuple[Item, int, str]] = [(it, t, r) for it in suite.items for t, r in enumerate(replies[it.id])]
    scores = scorer.score([r for _, _, r in rows], expected=[it.contexts[t] for it, t, _ in rows])
    out = []
    for (it, t, reply), s in zip(rows, scores, strict=True):
        out.append(
            {
                "side": side,
                "id": it.id,
                "kind": it.kind,
                "turn": t,
                "shift_at": it.shift_at,
                "context": it.contexts[t],
                "prompt": it.turns[t],
                "response": reply,
                "predicted": s["context"],
                "probs": s["probs"],
                "style_hit": s["style_hit"],
                "profile": s["profile"],
            }
        )
    return out


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


def assemble(per_side: dict[str, dict[str, Any]], diff: dict[str, Any] | None) -> dict[str, Any]:
    """Regroup {side: {metric: ...}} into {metric: {base, adapter, difference}} (the eval.json shape)."""
    out: dict[str, Any] = {}
    for metric in ("range", "consistency", "transitions", "collapse", "depth"):
        out[metric] = {side: m[metric] for side, m in per_side.items()}
        if diff is not None and metric in diff:
            out[metric]["difference"] = diff[metric]
    return out


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
            stask = progress.add_task(f"score ({side})", total=turns_total)
            scored[side] = score_turns(suite, replies, scorer, side)
            progress.advance(stask, turns_total)
    with open(out / "generations.jsonl", "w", encoding="utf-8") as f:
        for side in sides:
            for row in scored[side]:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    n, seed = ec.bootstrap_samples, cfg.seed
    contexts = [c for c in ec.contexts if c in suite.contexts()]
    per_side = {side: side_metrics(scored[side], contexts, n, seed) for side in sides}
    diff = differences(scored["base"], scored["adapter"], n, seed) if "adapter" in scored else None
    result: dict[str, Any] = {
        "model": cfg.model.name,
        "adapter": str(adapter_dir) if adapter_dir else (ec.endpoint.adapter_model or None),
        "sides": sides,
        "device": gen.device,
        "precision": gen.precision,
        "decoding": ec.decoding.model_dump(),
        "suite": {
            "files": ec.suites,
            "prompts": len(suite.prompts),
            "consistency_dialogues": len(suite.consistency),
            "transition_dialogues": len(suite.transitions),
            "contexts": contexts,
        },
        "scorer": {"prototypes": ec.prototypes, **scorer.protos.meta},
        **assemble(per_side, diff),
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
