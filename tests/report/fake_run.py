"""A realistic finished run folder, written from the stage contract (issues 3, 4, 5), for report tests."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from emergent.curate.config import seed_targets
from emergent.evaluate.stats import verdicts

CONTEXTS = ["technical", "empathetic", "creative", "analytical", "tool_use", "ethical", "conversational", "factual"]
PHASES = [
    ("phase1_foundation", ["technical", "factual", "tool_use", "instructional"], 2e-5),
    ("phase2_analytical", ["analytical", "ethical", "specialized"], 1.5e-5),
    ("phase3_empathic_creative", ["empathetic", "creative", "conversational"], 1e-5),
    ("phase4_mixed", ["all"], 5e-6),
    ("phase5_fine_tuning", ["all"], 3e-6),
]
TARGETS = seed_targets()
# The held-out set: four buckets of four conversations; loss falls 0.0008 nats per optimizer step.
HELDOUT_BASE = {"technical": 1.2, "empathetic": 3.0, "creative": 3.3, "analytical": 1.4}
STEPS_PER_PHASE = 8


def heldout_loss(bucket: str, global_step: int) -> float:
    return round(HELDOUT_BASE[bucket] - 0.0008 * global_step, 6)


def validation_record(phase: str, phase_index: int, step: int, global_step: int) -> dict:
    """One line of train/validation.jsonl as the trainer's Validator writes it."""
    by_category = {b: heldout_loss(b, global_step) for b in sorted(HELDOUT_BASE)}
    return {
        "phase": phase,
        "phase_index": phase_index,
        "step": step,
        "global_step": global_step,
        "loss": round(sum(by_category.values()) / len(by_category), 6),
        "by_category": by_category,
        "examples": 16,
        "loss_tokens": 2400,
        "seconds": 3.1,
    }


def _est(mean: float, half: float) -> dict:
    return {"mean": round(mean, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)]}


def manifest(validation: bool = True) -> dict:
    counts = {
        "technical": 640,
        "instructional": 410,
        "analytical": 380,
        "conversational": 170,
        "empathetic": 150,
        "creative": 120,
        "tool_use": 160,
        "factual": 150,
        "ethical": 90,
        "specialized": 0,
    }
    total = sum(counts.values())
    comp = {}
    for b, n in counts.items():
        lo, hi = TARGETS[b]
        share = n / total
        comp[b] = {
            "count": n,
            "share": share,
            "target": [lo, hi],
            "status": "ok" if lo <= share <= hi else ("below" if share < lo else "above"),
            # self_instruct's records are classified; every other source names its bucket.
            "predicted": n // 10,
            "from_config": n - n // 10,
        }
    held = {
        "examples": 16,
        "tokens": 3100,
        "categories": dict.fromkeys(HELDOUT_BASE, 4),
        "file": "validation.parquet",
        "examples_per_category": 4,
        "max_fraction": 0.05,
    }
    return {
        **({"validation": held} if validation else {}),
        "counts": {
            "input": 2700,
            "quarantined": 41,
            "filtered": 137,
            "exact_duplicates": 55,
            "near_duplicates": 175,
            "contaminated": 22,
            "output": total,
        },
        "reasons": {
            "too_short": 80,
            "repeated_ngrams": 31,
            "echo": 12,
            "offensive": 14,
            "exact_duplicate": 55,
            "near_duplicate": 175,
            "contaminated": 22,
            "missing_field": 41,
        },
        "sources": {
            "gsm8k": {"input": 400, "output": 371, "license": "MIT", "category": "analytical"},
            "mbpp": {"input": 500, "output": 452, "license": "CC-BY-4.0", "category": "technical"},
            "counsel_chat": {"input": 300, "output": 150, "license": "MIT", "category": "empathetic"},
            "aesop": {"input": 200, "output": 120, "license": "Public-Domain", "category": "creative"},
            "bfcl": {"input": 180, "output": 160, "license": "Apache-2.0", "category": "tool_use"},
            "self_instruct": {"input": 1120, "output": 1017, "license": "Apache-2.0", "category": None},
        },
        "composition": comp,
        "composition_before_dedup": {
            b: {"count": int(c["count"] * 1.1), "share": c["share"], "target": c["target"], "status": c["status"]}
            for b, c in comp.items()
        },
        "diversity": {"entropy_bits": 3.02, "effective_buckets": 8.1},
        "phases": {
            name: {
                "examples": 400 + 50 * i,
                "tokens": 90_000 + 9_000 * i,
                # As the build writes them: the rows of each bucket the phase trains on.
                "categories": {c: counts[c] // 2 for c in (counts if cats == ["all"] else cats) if counts[c]},
                "file": f"phases/{name}.parquet",
            }
            for i, (name, cats, _) in enumerate(PHASES)
        },
        "warnings": ["targets infeasible: lower bounds sum to 105%", "specialized: 0.0% is below its target 2-4%"],
    }


def train_files(out: Path, validation: bool = True) -> None:
    """metrics.jsonl, train_summary.json and adapter/; with `validation`, validation.jsonl and its summary fields
    (base at step 0, a mid-phase record every 4 steps, one at each phase end)."""
    rng = random.Random(0)
    out.mkdir(parents=True, exist_ok=True)
    lines, phases, step, loss = [], [], 0, 2.9
    held = [validation_record("base", 0, 0, 0)]
    for k, (name, cats, lr) in enumerate(PHASES):
        steps = STEPS_PER_PHASE
        first_loss = None
        for s in range(steps):
            step += 1
            warm = 1
            cur_lr = (
                lr * (s + 1) / warm if s < warm else lr * 0.5 * (1 + math.cos(math.pi * (s - warm) / (steps - warm)))
            )
            loss = max(0.6, loss - 0.05 + rng.uniform(-0.04, 0.04))
            first_loss = first_loss or loss
            lines.append(
                {
                    "phase": name,
                    "step": s + 1,
                    "global_step": step,
                    "loss": round(loss, 4),
                    "learning_rate": cur_lr,
                    "tokens_per_s": 80 + rng.uniform(-5, 5),
                    "epoch": (s + 1) / steps,
                }
            )
            if (s + 1) % 4 == 0:
                held.append(validation_record(name, k, s + 1, step))
        phases.append(
            {
                "name": name,
                "categories": cats,
                "learning_rate": lr,
                "steps": steps,
                "examples": 64,
                "tokens": 30_000,
                "loss_first": round(first_loss, 4),
                "loss_last": round(loss, 4),
                "loss_mean": round((first_loss + loss) / 2, 4),
                "seconds": 360.0,
                "tokens_per_s": 83.3,
                "validation_loss": held[-1]["loss"] if validation else None,
                "validation_by_category": held[-1]["by_category"] if validation else None,
            }
        )
    if validation:
        (out / "validation.jsonl").write_text("".join(json.dumps(x) + "\n" for x in held))
    summary_validation = {
        "examples": 16,
        "loss_tokens": 2400,
        "categories": dict.fromkeys(sorted(HELDOUT_BASE), 4),
        "dropped": {},
        "base": {k: held[0][k] for k in ("loss", "by_category", "examples", "loss_tokens")},
        "final": {"loss": held[-1]["loss"], "by_category": held[-1]["by_category"]},
        "log": "validation.jsonl",
    }
    (out / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (out / "train_summary.json").write_text(
        json.dumps(
            {
                "model": "smollm2-135m-instruct",
                "peft": {
                    "r": 32,
                    "lora_alpha": 64,
                    "lora_dropout": 0.05,
                    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                },
                "device": "cpu",
                "precision": "fp32",
                "phases": phases,
                "validation": summary_validation if validation else None,
            }
        )
    )
    adapter = out / "adapter"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_config.json").write_text(
        json.dumps(
            {
                "base_model_name_or_path": "/root/.cache/emergent/models/smollm2-135m-instruct",
                "peft_type": "LORA",
                "r": 32,
                "lora_alpha": 64,
                "task_type": "CAUSAL_LM",
            }
        )
    )


RESPONSES = {
    "technical": "Use slicing:\n```python\nitems[::-1]\n```\nIt returns a reversed copy.",
    "empathetic": "I'm sorry you feel this way. It's okay to feel stressed; you're not alone, take care of yourself.",
    "creative": "Once upon a time a fox wandered into the forest and whispered to the moon.",
    "analytical": "First, 15% of 240 is 0.15 * 240 = 36, so the answer is 36.",
    "tool_use": '{"name": "get_weather", "arguments": {"city": "Madrid"}}',
    "ethical": "It depends: some people argue it is wrong, however others consider the harm small.",
    "conversational": "Hey, pretty good thanks! How about you?",
    "factual": "The Sahara is the largest hot desert.",
}


def _turn(
    side: str, item: str, kind: str, turn: int, context: str, hit: bool, shift_at: int | None = None, detail: int = 0
) -> dict:
    """One scored turn as emergent.evaluate.run.score_turns writes it."""
    from emergent.evaluate.style import style_features

    predicted = context if hit else "conversational" if context != "conversational" else "factual"
    response = RESPONSES[predicted] if side == "adapter" else f"Sure. Here is an answer about {context} <b>{item}</b>."
    response += " More detail follows here." * detail
    probs = {c: 0.02 for c in CONTEXTS}
    probs[predicted] = 0.86
    return {
        "side": side,
        "id": item,
        "kind": kind,
        "turn": turn,
        "shift_at": shift_at,
        "context": context,
        "prompt": f"A {context} question {item} <with markup>?" + " Please explain why, step by step." * detail,
        "response": response,
        "predicted": predicted,
        "probs": probs,
        "style_hit": hit,
        "profile": style_features(response),
    }


def scored_turns(side: str, seed: int) -> list[dict]:
    """Prompts (3 per context), 2 consistency and 3 transition dialogues; the adapter hits more often."""
    rng = random.Random(seed)
    p_hit = 0.8 if side == "adapter" else 0.35
    turns = [
        _turn(side, f"{c}-{k}", "prompt", 0, c, rng.random() < p_hit, detail=(k + i) % 3)
        for i, c in enumerate(CONTEXTS)
        for k in range(3)
    ]
    for d, c in enumerate(["empathetic", "technical"]):
        turns += [_turn(side, f"consistency-{d}", "consistency", t, c, rng.random() < p_hit) for t in range(3)]
    for d, (a, b) in enumerate([("technical", "empathetic"), ("factual", "creative"), ("ethical", "factual")]):
        turns += [
            _turn(side, f"transition-{d}", "transition", t, a if t < 1 else b, rng.random() < p_hit, 1)
            for t in range(3)
        ]
    return turns


_EVAL_CACHE: dict[str, str] = {}


# eval.json's held-out loss: one bucket clearly better, one clearly worse, two with intervals across zero.
HELDOUT = {
    "data": "@RUN@/data/validation.parquet",
    "examples": 16,
    "loss_tokens": 2400,
    "dropped": {"no_assistant_tokens_within_max_seq_len": 1},
    "max_seq_len": 512,
    "base": {"loss": 2.2251},
    "adapter": {"loss": 2.1932},
    "difference": {"mean": -0.0318, "ci95": [-0.041, -0.0227], "n": 16},
    "by_category": {
        "analytical": {
            "examples": 4,
            "base": 1.4002,
            "adapter": 1.4023,
            "difference": {"mean": 0.0021, "ci95": [0.0004, 0.0039], "n": 4},
        },
        "creative": {
            "examples": 4,
            "base": 3.3011,
            "adapter": 3.2999,
            "difference": {"mean": -0.0012, "ci95": [-0.004, 0.002], "n": 4},
        },
        "empathetic": {
            "examples": 4,
            "base": 3.0005,
            "adapter": 2.9702,
            "difference": {"mean": -0.0301, "ci95": [-0.0622, 0.0015], "n": 4},
        },
        "technical": {
            "examples": 4,
            "base": 1.1987,
            "adapter": 1.1004,
            "difference": {"mean": -0.0981, "ci95": [-0.1203, -0.0755], "n": 4},
        },
    },
    "seconds": 12.5,
}
# The buckets' paired tests as the evaluation writes them: one Holm family, no verdict below 20 conversations.
for _bucket, (_n, _p) in {
    "analytical": (24, 0.01),
    "creative": (4, 0.5),
    "empathetic": (4, 0.06),
    "technical": (24, 0.001),
}.items():
    _entry = HELDOUT["by_category"][_bucket]
    _entry["examples"] = _n
    _entry["test"] = {"test": "paired_bootstrap", "n": _n, "p": _p, "mean": _entry["difference"]["mean"],
                      "effect": -_entry["difference"]["mean"], "metric": "heldout_loss", "context": _bucket}  # fmt: skip
verdicts([e["test"] for e in HELDOUT["by_category"].values()])


def eval_files(out: Path, heldout: bool = True) -> None:
    """eval.json and generations.jsonl computed by the evaluation stage's own metric code on scored turns;
    without `heldout`, eval.json as it was before the held-out loss existed (no "heldout" key)."""
    out.mkdir(parents=True, exist_ok=True)
    if not _EVAL_CACHE:  # the metrics (bootstrap, cross-validation) take seconds: compute them once
        _EVAL_CACHE.update(_eval_texts())
    for name, text in _EVAL_CACHE.items():
        text = text.replace("@ADAPTER@", str(out.parent / "train" / "adapter"))
        if name == "eval.json":
            ev = json.loads(text)
            if heldout:
                ev["heldout"] = {**HELDOUT, "data": HELDOUT["data"].replace("@RUN@", str(out.parent))}
            text = json.dumps(ev, indent=2)
        (out / name).write_text(text)


def _eval_texts() -> dict[str, str]:
    from emergent.evaluate.run import assemble, differences, side_metrics

    scored = {"base": scored_turns("base", 1), "adapter": scored_turns("adapter", 2)}
    per_side = {side: side_metrics(t, CONTEXTS, 100, 0) for side, t in scored.items()}
    ev = {
        "model": "smollm2-135m-instruct",
        "adapter": "@ADAPTER@",
        "sides": ["base", "adapter"],
        "device": "cpu",
        "suite": {
            "files": ["default"],
            "prompts": 24,
            "consistency_dialogues": 2,
            "transition_dialogues": 3,
            "contexts": CONTEXTS,
        },
        **assemble(per_side, differences(scored["base"], scored["adapter"], 100, 0)),
        "contamination": {"checked": True, "ngram": 13, "items": 29, "contaminated": ["factual-2"], "rate": 0.0345},
        "judge": None,
        "seconds": {"generate_base": 41.2, "generate_adapter": 44.9, "total": 97.5},
    }
    return {
        "eval.json": json.dumps(ev, indent=2),
        "generations.jsonl": "".join(json.dumps(t) + "\n" for side in scored.values() for t in side),
    }


# Why each source's dropped records went (stage file, reason, count): they add up to input - output per source.
DROPS = {
    "gsm8k": [("quarantine", "missing_field", 4), ("filters", "too_short", 25)],
    "mbpp": [("exact_dedup", "exact_duplicate", 48)],
    "counsel_chat": [("near_dedup", "near_duplicate", 150)],
    "aesop": [("near_dedup", "near_duplicate", 25), ("filters", "too_short", 55)],
    "bfcl": [("quarantine", "missing_field", 20)],
    "self_instruct": [
        ("filters", "repeated_ngrams", 31),
        ("filters", "assistant_echo", 12),
        ("filters", "offensive", 14),
        ("decontaminate", "contaminated", 22),
        ("filters", "too_short", 24),
    ],
}
# Kept records on disk per source (the manifest's outputs are larger: only these few are written).
KEPT_ON_DISK = {"gsm8k": 5, "mbpp": 4, "counsel_chat": 6, "aesop": 2, "bfcl": 3, "self_instruct": 7}


def kept_record(source: str, i: int, category: str | None) -> dict:
    """One kept conversation; counsel_chat's first carries markup that the report must escape."""
    from emergent.schema import make_conversation, tool_call

    question = f"{source} question {i}" + (" <script>alert(1)</script>" if (source, i) == ("counsel_chat", 0) else "")
    if source == "bfcl":
        messages = [
            {"role": "user", "content": f"Weather in city {i}?"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call("get_weather", {"city": f"c{i}"})]},
        ]
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    else:
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": f"{source} answer {i}"}]
        tools = None
    return make_conversation(
        messages, source=source, origin=f"{source}.jsonl:{i + 1}", category=category, license="MIT", tools=tools
    )


def data_files(out: Path, sources: dict) -> None:
    """conversations/part-00000.parquet (a few kept records per source), quarantine.jsonl and dropped/<step>.jsonl."""
    from emergent.data.store import write_conversations

    records = [kept_record(name, i, sources[name]["category"]) for name, n in KEPT_ON_DISK.items() for i in range(n)]
    random.Random(0).shuffle(records)  # the mixture is not grouped by source
    write_conversations(records, out / "conversations" / "part-00000.parquet")
    files: dict[str, list[str]] = {}
    for source, drops in DROPS.items():
        for step, reason, n in drops:
            key = "source" if step == "quarantine" else "_source"
            files.setdefault(step, []).extend(json.dumps({key: source, "reason": reason}) + "\n" for _ in range(n))
    (out / "quarantine.jsonl").write_text("".join(files.pop("quarantine")))
    (out / "dropped").mkdir(exist_ok=True)
    for step, lines in files.items():
        (out / "dropped" / f"{step}.jsonl").write_text("".join(lines))


def make_fake_run(run: Path, *, train: bool = True, evaluate: bool = True, heldout: bool = True) -> Path:
    """Write RUN/data/{manifest.json, conversations/, quarantine.jsonl, dropped/} and, optionally, RUN/train/*
    and RUN/eval/*; heldout=False writes a run from before the held-out set (no validation block,
    validation.jsonl or eval.json "heldout")."""
    (run / "data").mkdir(parents=True, exist_ok=True)
    data = manifest(validation=heldout)
    (run / "data" / "manifest.json").write_text(json.dumps(data))
    data_files(run / "data", data["sources"])
    if train:
        train_files(run / "train", validation=heldout)
    if evaluate:
        eval_files(run / "eval", heldout=heldout)
    return run
