"""Generation with the adapter vs the base model, with the LoRA weights merged (ours) and unmerged (PEFT's
default), same prompts, same model, one process.

    python bench/eval_adapter_generation.py [--adapter DIR] [--prompts 16] [--max-new-tokens 48] [--rounds 2]
    python bench/eval_adapter_generation.py --device cuda --random-init smollm2-135m --batch 64 --prompts 128

--random-init SHAPE builds a random-weight model of a real architecture (SmolLM2-135M, Llama-3.2-1B)
with SmolLM2's tokenizer from the test fixtures, for machines without the pretrained weights (the GPU
machine); it never stops at an end token, so every side generates exactly --max-new-tokens per row.
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

from emergent.evaluate.suite import load_suite
from emergent.lm.config import DecodingConfig
from emergent.lm.generation import LocalGenerator
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


RANDOM_SHAPES = {
    # Public configs of the architectures, random weights, SmolLM2's vocabulary (the fixture tokenizer).
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, tie_word_embeddings=True, rope_theta=100000.0),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, tie_word_embeddings=True, rope_theta=500000.0),
}  # fmt: skip
TOKENIZER = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "smollm2-tokenizer"


def random_model(shape: str, target: Path) -> str:
    import shutil

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    config = LlamaConfig(**RANDOM_SHAPES[shape], vocab_size=len(tokenizer), max_position_embeddings=8192,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)  # half the bytes to write; loading picks the dtype
    model.generation_config.eos_token_id = None  # fixed lengths: random weights would stop at random
    model.save_pretrained(target)
    for f in TOKENIZER.iterdir():
        if f.suffix != ".md":
            shutil.copy(f, target / f.name)
    return str(target)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--adapter", type=Path, default=None)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    ap.add_argument("--random-init", choices=sorted(RANDOM_SHAPES), default=None,
                    help="a random-weight model of this architecture instead of --model")  # fmt: skip
    args = ap.parse_args()
    if args.random_init:
        path = random_model(args.random_init, Path(tempfile.mkdtemp()) / args.random_init)
    else:
        path = resolve_model_path(args.model)
    adapter = args.adapter or seed_adapter(path, Path(tempfile.mkdtemp()) / "adapter")
    items = load_suite(["default"], prompts_per_context=max(1, args.prompts // 8)).prompts[: args.prompts]
    convs = [[{"role": "user", "content": it.turns[0]}] for it in items]
    tools = [it.tools for it in items]
    gen = LocalGenerator(path, adapter, DecodingConfig(max_new_tokens=args.max_new_tokens), args.batch, args.device)
    gen.generate(convs[:1], tools[:1], False)  # warm-up

    def unmerged(self: LocalGenerator, use_adapter: bool) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    merged_mode = LocalGenerator._merged
    sides = {"base": (False, merged_mode), "adapter unmerged": (True, unmerged), "adapter merged": (True, merged_mode)}
    best: dict[str, float] = {}
    texts: dict[str, list[str]] = {}
    cuda = gen.device.startswith("cuda")
    for _ in range(args.rounds):
        for side, (use_adapter, mode) in sides.items():
            LocalGenerator._merged = mode
            t0 = time.perf_counter()
            texts[side] = gen.generate(convs, tools, use_adapter)
            if cuda:
                import torch

                torch.cuda.synchronize()
            best[side] = min(best.get(side, float("inf")), time.perf_counter() - t0)
    LocalGenerator._merged = merged_mode
    same = sum(a == b for a, b in zip(texts["adapter merged"], texts["adapter unmerged"], strict=True))
    where = torch_device_name(gen.device)
    model = f"random-init {args.random_init} shape" if args.random_init else args.model
    print(f"model {model}, {len(convs)} suite prompts, max_new_tokens {args.max_new_tokens}, "
          f"batch {args.batch}, {gen.precision} on {where}, fastest of {args.rounds} rounds")  # fmt: skip
    for side, seconds in best.items():
        print(f"{side:17s}: {seconds:6.1f} s  ({seconds / best['base']:.2f}x base)")
    print(f"merged vs unmerged: {best['adapter unmerged'] / best['adapter merged']:.2f}x faster; "
          f"identical greedy texts {same}/{len(convs)}")  # fmt: skip


def torch_device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"


if __name__ == "__main__":
    main()
