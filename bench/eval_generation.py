"""Batched + KV-cached greedy generation vs one prompt at a time, same prompts, same model, one process.

    python bench/eval_generation.py [--prompts 8] [--max-new-tokens 48] [--batch 8]

Baseline: what an evaluation loop usually does, `model.generate` per prompt (KV cache on).
Ours: LocalGenerator with left padding, longest-first batches. Prints tokens/s of both and the ratio,
and checks that both produce the same text (greedy decoding must not depend on batching).
"""

from __future__ import annotations

import argparse
import time

from emergent.evaluate.config import DecodingConfig
from emergent.evaluate.generate import LocalGenerator
from emergent.evaluate.suite import load_suite
from emergent.lm.registry import resolve_model_path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    suite = load_suite(["default"], prompts_per_context=max(1, args.prompts // 8))
    items = suite.prompts[: args.prompts]
    convs = [[{"role": "user", "content": it.turns[0]}] for it in items]
    tools = [it.tools for it in items]
    dec = DecodingConfig(max_new_tokens=args.max_new_tokens)
    path = resolve_model_path(args.model)
    one = LocalGenerator(path, None, dec, batch_size=1, device="cpu")
    batched = LocalGenerator(path, None, dec, batch_size=args.batch, device="cpu")
    batched.generate(convs[:1], tools[:1], False)  # warm-up
    tok = one.tokenizer

    def run(gen: LocalGenerator) -> tuple[list[str], float, int]:
        t0 = time.perf_counter()
        out = gen.generate(convs, tools, False)
        dt = time.perf_counter() - t0
        return out, dt, sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in out)

    base_out, base_s, base_tok = run(one)
    our_out, our_s, our_tok = run(batched)
    same = sum(a == b for a, b in zip(base_out, our_out, strict=True))
    print(f"model {args.model}, {len(convs)} suite prompts, max_new_tokens {args.max_new_tokens}, fp32 CPU")
    print(f"one at a time : {base_s:6.1f} s, {base_tok / base_s:6.1f} generated tokens/s")
    print(f"batched ({args.batch})   : {our_s:6.1f} s, {our_tok / our_s:6.1f} generated tokens/s")
    print(f"speed-up: {base_s / our_s:.2f}x; identical outputs: {same}/{len(convs)}")


if __name__ == "__main__":
    main()
