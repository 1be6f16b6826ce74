"""Decoding settings for the suite on this machine: batch size and precision; same prompts, one process.

    python bench/eval_decode_settings.py [--prompts 48] [--max-new-tokens 128] [--settings 8:bf16,16:bf16,32:bf16,8:fp32]

A setting is batch_size:precision (`eval.batch_size`, `eval.precision`). Baseline: the first setting (the
shipped batch of 8 at `eval.precision: auto`, bf16 on this EPYC). Every setting generates the same prompts,
a seeded sample of the full suite's single-turn items spread over every context (tool prompts included),
with its own loaded model; the settings run in turn, then again in reverse order, so a drift in machine
load falls on both sides. Prints seconds per
reply, the ratio against the baseline, and how many replies are word for word the baseline's (greedy
decoding in another batch composition or precision can take another path; the count says how often).
One prompt at a time against batches, the usual evaluation loop against ours: `--settings 1:bf16,8:bf16`.
"""

from __future__ import annotations

import argparse
import random
import time

from emergent.evaluate.suite import load_suite
from emergent.lm.config import DecodingConfig
from emergent.lm.generation import LocalGenerator
from emergent.lm.registry import resolve_model_path


def sample_prompts(n: int, seed: int) -> list:
    """n single-turn items of the full suite, the same number from each context (seeded)."""
    suite = load_suite(["default"])
    by_ctx: dict[str, list] = {}
    for it in suite.prompts:
        by_ctx.setdefault(it.contexts[-1], []).append(it)
    rng = random.Random(seed)
    picked: list = []
    contexts = sorted(by_ctx)
    for k in range(n):
        pool = by_ctx[contexts[k % len(contexts)]]
        picked.append(pool.pop(rng.randrange(len(pool))))
    return picked


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument(
        "--settings", default="8:bf16,16:bf16,32:bf16,8:fp32", help="batch:precision, first is the baseline"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    items = sample_prompts(args.prompts, args.seed)
    convs = [[{"role": "user", "content": it.turns[0]}] for it in items]
    tools = [it.tools for it in items]
    dec = DecodingConfig(max_new_tokens=args.max_new_tokens)
    path = resolve_model_path(args.model)
    settings = [(int(b), p) for b, p in (s.split(":") for s in args.settings.split(","))]
    gens = {s: LocalGenerator(path, None, dec, batch_size=s[0], device="cpu", precision=s[1]) for s in settings}
    for g in gens.values():
        g.generate(convs[:2], tools[:2], False)  # warm-up
    seconds = dict.fromkeys(settings, 0.0)
    outputs: dict[tuple[int, str], list[str]] = {}
    for s in [*settings, *reversed(settings)]:
        t0 = time.perf_counter()
        outputs[s] = gens[s].generate(convs, tools, False)
        seconds[s] += time.perf_counter() - t0
    base = settings[0]
    print(
        f"model {args.model}, {len(convs)} suite prompts over every context, max_new_tokens {args.max_new_tokens}, CPU"
    )
    print("setting      s/reply  ratio vs first  same replies as first")
    for s in settings:
        per = seconds[s] / (2 * len(convs))
        same = sum(a == b for a, b in zip(outputs[base], outputs[s], strict=True))
        print(f"{s[0]:>3} {s[1]:<6}  {per:7.3f}  {seconds[base] / seconds[s]:13.2f}x  {same}/{len(convs)}")


if __name__ == "__main__":
    main()
