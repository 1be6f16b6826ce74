"""Does a greedy reply depend on the other prompts in its batch? Same prompts, two batch compositions.

    python bench/eval_batch_composition.py [--prompts 48] [--max-new-tokens 128] [--precisions bf16,fp32] [--batch 8]

For each precision: the prompts (bench/eval_decode_settings.py's seeded sample of the full suite) are
generated together, then every other one is generated again among only its half, so each lands in a batch
of other neighbours and other padding. Prints how many of the repeated prompts get the same reply word for
word. An evaluation whose replies change with their neighbours compares runs only where the items, and so
the batches, are the same (docs/proof.md).
"""

from __future__ import annotations

import argparse
import time

from emergent.lm.config import DecodingConfig
from emergent.lm.generation import LocalGenerator
from emergent.lm.registry import resolve_model_path
from eval_decode_settings import sample_prompts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    items = sample_prompts(args.prompts, args.seed)
    convs = [[{"role": "user", "content": it.turns[0]}] for it in items]
    tools = [it.tools for it in items]
    half = list(range(0, len(convs), 2))
    dec = DecodingConfig(max_new_tokens=args.max_new_tokens)
    path = resolve_model_path(args.model)
    print(
        f"model {args.model}, {len(convs)} suite prompts, batch {args.batch}, max_new_tokens {args.max_new_tokens}, CPU"
    )
    print("precision  same reply in both compositions  seconds")
    for precision in args.precisions.split(","):
        gen = LocalGenerator(path, None, dec, batch_size=args.batch, device="cpu", precision=precision)
        t0 = time.perf_counter()
        together = gen.generate(convs, tools, False)
        alone = gen.generate([convs[i] for i in half], [tools[i] for i in half], False)
        same = sum(together[i] == a for i, a in zip(half, alone, strict=True))
        print(f"{precision:<9}  {same:>3} / {len(half):<3}                       {time.perf_counter() - t0:7.1f}")


if __name__ == "__main__":
    main()
