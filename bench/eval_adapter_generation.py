"""Generation with the adapter vs the base model, with the LoRA weights merged (ours) and unmerged (PEFT's
default), same prompts, same model, one process.

    python bench/eval_adapter_generation.py [--adapter DIR] [--prompts 16] [--max-new-tokens 48] [--rounds 2]

Without --adapter, a seed-shaped LoRA (r 32, alpha 64, the 7 projections, random B so it changes the
outputs) is made on the embedded model. Each side runs --rounds times in turns and keeps its fastest
round (the box's speed drifts). Prints seconds per side, adapter / base ratios, and whether merged and
unmerged greedy texts agree.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

from emergent.evaluate.config import DecodingConfig
from emergent.evaluate.generate import LocalGenerator
from emergent.evaluate.suite import load_suite
from emergent.lm.registry import resolve_model_path


def seed_adapter(model_path: str, target: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = LoraConfig(r=32, lora_alpha=64, init_lora_weights=False,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])  # fmt: skip
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_path), config)
    with torch.no_grad():  # a trained adapter's scale, not PEFT's random-init one
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(0.01)
    model.save_pretrained(target, save_embedding_layers=False)
    return target


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--adapter", type=Path, default=None)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    path = resolve_model_path(args.model)
    adapter = args.adapter or seed_adapter(path, Path(tempfile.mkdtemp()) / "adapter")
    items = load_suite(["default"], prompts_per_context=max(1, args.prompts // 8)).prompts[: args.prompts]
    convs = [[{"role": "user", "content": it.turns[0]}] for it in items]
    tools = [it.tools for it in items]
    gen = LocalGenerator(path, adapter, DecodingConfig(max_new_tokens=args.max_new_tokens), args.batch, "cpu")
    gen.generate(convs[:1], tools[:1], False)  # warm-up

    def unmerged(self: LocalGenerator, use_adapter: bool) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    merged_mode = LocalGenerator._merged
    sides = {"base": (False, merged_mode), "adapter unmerged": (True, unmerged), "adapter merged": (True, merged_mode)}
    best: dict[str, float] = {}
    texts: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for side, (use_adapter, mode) in sides.items():
            LocalGenerator._merged = mode
            t0 = time.perf_counter()
            texts[side] = gen.generate(convs, tools, use_adapter)
            best[side] = min(best.get(side, float("inf")), time.perf_counter() - t0)
    LocalGenerator._merged = merged_mode
    same = sum(a == b for a, b in zip(texts["adapter merged"], texts["adapter unmerged"], strict=True))
    print(f"model {args.model}, {len(convs)} suite prompts, max_new_tokens {args.max_new_tokens}, "
          f"batch {args.batch}, {gen.precision} CPU, fastest of {args.rounds} rounds")  # fmt: skip
    for side, seconds in best.items():
        print(f"{side:17s}: {seconds:6.1f} s  ({seconds / best['base']:.2f}x base)")
    print(f"merged vs unmerged: {best['adapter unmerged'] / best['adapter merged']:.2f}x faster; "
          f"identical greedy texts {same}/{len(convs)}")  # fmt: skip


if __name__ == "__main__":
    main()
