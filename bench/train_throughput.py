"""Training throughput: plain transformers + PEFT with a padding collator vs emergent's trainer step.

Both sides train the same LoRA (the seed's: r 32, alpha 64, 7 projections) on the same tokenised
conversations, one pass, AdamW, in one process, and report real (non-pad) tokens per second.

(a) baseline — what a user writes today: micro-batches of `--batch` conversations in data order,
    padded to the longest, 2-D attention mask, `model(..., labels=...)` (full-vocabulary logits
    at every position, pads included).
(b) ours — emergent.train: conversations packed into rows of `--max-seq-len` with attention
    isolation (with varlen attention a micro-batch's rows go back to back, padding-free), the output
    head and loss only on loss-bearing tokens, in chunks. Attention as the trainer picks it
    (`auto`: the flash varlen kernel on CUDA, per-conversation bmm attention on CPU).

`--variants` runs several sides in one process, each on a freshly built model. On CPU they are timed in
turns of `--turn` seconds (the side with the least time so far goes next; each turn starts with one
untimed micro-batch) until each has made a full pass, so a machine whose speed drifts over minutes
slows every side alike; `--sequential` times each alone, one after another, as on GPUs (where only
one model is held at a time). E.g.
    baseline,ours+sdpa,ours,ours+rows=8,ours+compile,ours+compile+liger
options after "ours": sdpa | varlen (attention), compile (torch.compile each decoder layer, as
`training.compile`), rows=N (packed rows per micro-batch), liger (Liger RMSNorm/SwiGLU/RoPE kernels),
nockpt (no gradient checkpointing even with --gradient-checkpointing), bf16 (bf16 base weights + autocast
on CPU, as `precision: auto` trains on CPUs with AVX512-BF16 or AMX; GPU sides are always bf16;
`baseline+bf16` is the user who asks Trainer for bf16 on such a CPU), torchdropout (PEFT's own
nn.Dropout in the LoRA layers instead of the trainer's FastDropout, which draws CPU masks ~3x faster),
peftforward (PEFT's own LoRA forward instead of the trainer's lean one: input cast to fp32, full-width scaling),
modelnorm (the model's own RMSNorm instead of the trainer's fused one).
ckptevery=N (gradient checkpointing on every N-th decoder layer only: between
full recomputation and none, for models where no checkpointing does not fit). A side that fails (out of
memory, compile error) prints its error and the rest go on. Ratios are against the first side.

CPU (default): SmolLM2-135M-Instruct on a real mixture (the quickstart sources, a few records each,
or --data FILE.parquet).
    python bench/train_throughput.py [--examples 48] [--max-seq-len 512] [--batch 4]
    python bench/train_throughput.py --variants baseline,baseline+bf16,ours,ours+bf16
GPU: random-initialised Llama-3.2-1B / Llama-3.1-8B shapes (no hub), bf16, instruction-like lengths
(lognormal, median ~380 tokens, cap 2048), the seed's batch 4.
    python bench/train_throughput.py --gpu --shape 1b --variants baseline,ours+sdpa,ours,ours+compile
    python bench/train_throughput.py --gpu --shape 8b --gradient-checkpointing --examples 128
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from emergent.lm.attention import VARLEN, resolve_attn_implementation  # noqa: E402
from emergent.lm.loss import PackedLoss  # noqa: E402
from emergent.lm.packing import IGNORE, collate, loss_inputs, pack  # noqa: E402
from emergent.lm.render import Example, encode  # noqa: E402
from emergent.train.adapter import add_adapter, compile_layers, decoder_layers, use_training_fast_paths  # noqa: E402
from emergent.train.config import PeftSettings  # noqa: E402

SHAPES = {
    # Llama-3.2-1B and Llama-3.1-8B architectures (public configs), random weights.
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True, rope_theta=500000.0),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False, rope_theta=500000.0),
}  # fmt: skip


def real_mixture(n: int, data: str | None) -> list[dict]:
    """`n` real conversations: from a Parquet file, else round-robin over the quickstart sources."""
    from emergent.data.store import read_conversations

    if data:
        convs = list(read_conversations(Path(data)))
        random.Random(0).shuffle(convs)
        return convs[:n]
    from emergent.config import load_config
    from emergent.data.ingest import IngestStream

    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    per_source = math.ceil(n / len(cfg.sources))
    stream = IngestStream(cfg.sources, cfg.ingest, sink=lambda _row: None)
    convs: list[dict] = []
    for source in cfg.sources:
        got = 0
        for conv in stream.source_records(source):
            convs.append(conv)
            got += 1
            if got >= per_source:
                break
    random.Random(0).shuffle(convs)
    return convs[:n]


def synthetic_examples(n: int, vocab: int, cap: int) -> list[Example]:
    """Instruction-like lengths (lognormal, median ~380, cap `cap`); the last ~60 % of each carries loss."""
    rng = random.Random(0)
    out = []
    for _ in range(n):
        length = max(16, min(cap, int(rng.lognormvariate(math.log(380), 0.7))))
        prompt = int(length * 0.4)
        ids = [rng.randrange(vocab) for _ in range(length)]
        out.append(Example(input_ids=ids, labels=[False] * prompt + [True] * (length - prompt)))
    return out


def padded_batches(examples: list[Example], batch: int, pad_id: int) -> list[dict]:
    batches = []
    for i in range(0, len(examples), batch):
        group = examples[i : i + batch]
        width = max(len(e.input_ids) for e in group)
        ids = torch.full((len(group), width), pad_id)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        labels = torch.full((len(group), width), IGNORE)
        for r, e in enumerate(group):
            n = len(e.input_ids)
            ids[r, :n] = torch.tensor(e.input_ids)
            mask[r, :n] = 1
            labels[r, :n] = torch.tensor([t if lab else IGNORE for t, lab in zip(e.input_ids, e.labels, strict=False)])
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels, "real": int(mask.sum())})
    return batches


def packed_batches(
    examples: list[Example], rows_per_batch: int, max_len: int, pad_id: int, flat: bool = False
) -> list[dict]:
    rows = pack([len(e.input_ids) for e in examples], max_len)
    random.Random(0).shuffle(rows)
    out = []
    for i in range(0, len(rows), rows_per_batch):
        b = collate([[examples[j] for j in row] for row in rows[i : i + rows_per_batch]], pad_id, flat=flat)
        out.append({**b, "real": int(b["real_tokens"])})
    return out


class Side:
    """One side of the comparison, built and warmed up: trains micro-batches and adds up their time."""

    def __init__(self, name: str, model, step, batches: list[dict], warmup: int, device: torch.device) -> None:
        if len(batches) <= warmup:
            raise ValueError(
                f"{len(batches)} micro-batches leave none to time after {warmup} warm-up; raise --examples"
            )
        self.name, self.step, self.device = name, step, device
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=1e-5)
        self.warm, self.timed = batches[:warmup], batches[warmup:]
        self.seconds, self.tokens, self.computed, self.done = 0.0, 0, 0, 0
        self.warmup_seconds = 0.0

    def train(self, b: dict) -> None:
        """One micro-batch and optimizer step, as the trainer does each step."""
        self.step(b)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def warm_up(self, profile: int = 0) -> None:
        """The untimed micro-batches (compile, allocator), then an optional profile of `profile` more."""
        began = time.perf_counter()
        for b in self.warm:
            self.train(b)
        self.warmup_seconds = time.perf_counter() - began
        if profile:
            print_profile(self.timed[:profile], self.train, self.device)

    def time(self, batches: list[dict]) -> None:
        """Train `batches` and add their time and tokens (one sync each side, so GPU work queues ahead)."""
        self.sync()
        began = time.perf_counter()
        for b in batches:
            self.train(b)
        self.sync()
        self.seconds += time.perf_counter() - began
        self.tokens += sum(b["real"] for b in batches)
        self.computed += sum(b["input_ids"].numel() for b in batches)
        self.done += len(batches)

    def upcoming(self) -> dict:
        """The next micro-batch to time, round the list again after a full pass."""
        return self.timed[self.done % len(self.timed)]

    def time_next(self) -> None:
        self.time([self.upcoming()])

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def time_interleaved(sides: dict[str, Side], turn: float) -> None:
    """Time the sides in turns of at least `turn` seconds, always the one with the least time so far next,
    until each has made a full pass.

    A shared or throttled machine speeds up and slows down over minutes; in turns, every side sees the
    same conditions, so their ratio holds where back-to-back runs of each side swing by +-10 %. Switched
    every micro-batch, the baseline ran 7-9 % slower than alone in one A-B-A-B run (possibly drift
    itself), so turns are long and each begins with one untimed micro-batch. A side that fails is
    reported and dropped from `sides`.
    """
    while any(side.done < len(side.timed) for side in sides.values()):
        spec, side = min(sides.items(), key=lambda item: item[1].seconds)
        try:
            side.train(side.upcoming())  # untimed
            began = side.seconds
            while side.seconds - began < turn:
                side.time_next()
        except Exception as exc:
            failed(spec, exc)
            del sides[spec]


def print_profile(batches: list[dict], train, device: torch.device) -> None:
    """The operators and kernels that take the time of a few warm steps (untimed; --profile N)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for b in batches:
            train(b)
        if device.type == "cuda":
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=25, max_name_column_width=60))


FLAGS = ("compile", "liger", "nockpt", "bf16", "torchdropout", "peftforward", "modelnorm")  # on/off options of a side


def parse_variant(spec: str) -> dict:
    """'ours+compile+rows=8' -> {'side': 'ours', 'compile': True, 'rows': 8, ...}."""
    side, *opts = spec.split("+")
    if side not in ("baseline", "ours"):
        raise SystemExit(f"--variants: {spec!r} must start with baseline or ours")
    v = {"side": side, "attn": "auto", "rows": None, "ckptevery": None, **dict.fromkeys(FLAGS, False)}
    for opt in opts:
        key, _, val = opt.partition("=")
        if key in ("sdpa", "varlen"):
            v["attn"] = key
        elif key in ("rows", "ckptevery") and val.isdigit():
            v[key] = int(val)
        elif key in FLAGS:
            v[key] = True
        else:
            raise SystemExit(f"--variants: unknown option {opt!r} in {spec!r}")
    return v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="random-init Llama shapes on CUDA in bf16")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--data", default=None, help="conversations Parquet (default: quickstart sources)")
    ap.add_argument("--examples", type=int, default=48)
    ap.add_argument("--batch", type=int, default=4, help="conversations per baseline micro-batch")
    ap.add_argument("--rows", type=int, default=None, help="packed rows per micro-batch (default: --batch)")
    ap.add_argument("--max-seq-len", type=int, default=None, help="default 512 on CPU, 2048 on GPU")
    ap.add_argument("--warmup", type=int, default=1, help="untimed micro-batches per side (compiled: at least 3)")
    ap.add_argument("--variants", default="baseline,ours", help="sides to run, in order (see above)")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument(
        "--sequential", action="store_true", help="CPU: time each side alone, one after another (default: in turns)"
    )
    ap.add_argument("--turn", type=float, default=30.0, help="CPU: seconds each side trains per turn (default 30)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print a torch.profiler table of N warm steps")
    args = ap.parse_args()
    variants = [parse_variant(s) for s in args.variants.split(",")]

    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    device = torch.device("cuda" if args.gpu else "cpu")
    dtype = torch.bfloat16 if args.gpu else torch.float32
    max_len = args.max_seq_len or (2048 if args.gpu else 512)
    torch.manual_seed(0)
    if args.gpu:
        config = LlamaConfig(**SHAPES[args.shape], max_position_embeddings=8192, use_cache=False)
        examples = synthetic_examples(args.examples, config.vocab_size, max_len)
        pad_id = 0

        def build(attn: str, dtype: torch.dtype):
            config._attn_implementation = attn
            with torch.device(device):  # random init on the GPU: seconds instead of minutes for 8B
                return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)

        what = (
            f"random-init {args.shape} Llama shape, bf16, synthetic lognormal lengths, {torch.cuda.get_device_name()}"
        )
    else:
        from emergent.lm.registry import resolve_model_path

        path = resolve_model_path(args.model)
        tok = AutoTokenizer.from_pretrained(path)
        pad_id = tok.pad_token_id
        examples = [encode(c, tok, max_len) for c in real_mixture(args.examples, args.data)]

        def build(attn: str, dtype: torch.dtype):
            return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=attn)

        what = f"{args.model}, fp32 unless +bf16, {len(examples)} real conversations"

    lengths = [len(e.input_ids) for e in examples]
    print(f"{what}; {sum(lengths):,} tokens, median length {statistics.median(lengths):.0f}, max {max(lengths)}")
    print(f"torch {torch.__version__}; gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}")
    interleave = not (args.gpu or args.sequential)
    print(f"sides timed {'in turns (interleaved)' if interleave else 'one after another'}")
    results: dict[str, float] = {}
    ready: dict[str, Side] = {}
    for spec, v in zip(args.variants.split(","), variants, strict=True):
        try:
            side = build_side(v, args, build, examples, pad_id, device, dtype, max_len)
            side.warm_up(args.profile)
            if interleave:
                ready[spec] = side
                continue
            side.time(side.timed)
            report(side, args.gpu)
            results[spec] = side.rate
        except Exception as exc:  # one failing side (OOM, compile) must not lose the others' figures
            failed(spec, exc)
        side = None  # (sequential: free this side's model before the next is built)
        if args.gpu:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    if ready:
        time_interleaved(ready, args.turn)
        for spec, side in ready.items():
            report(side, args.gpu)
            results[spec] = side.rate
    first = args.variants.split(",")[0]
    if first in results:
        for spec, rate in results.items():
            print(f"ratio {spec} / {first}: {rate / results[first]:.2f}x")


def build_side(v: dict, args, build, examples, pad_id: int, device, dtype, max_len: int) -> Side:
    """One side's model, micro-batches and training step, as `--variants` describes it."""
    torch.manual_seed(0)
    attn = "sdpa" if v["side"] == "baseline" else resolve_attn_implementation(v["attn"], device)
    # bf16 on CPU: bf16 base weights + autocast, as the trainer does where the CPU has native bf16.
    if v["bf16"]:
        dtype = torch.bfloat16
    base = build(attn, dtype)
    base.config.use_cache = False
    if v["liger"]:
        from liger_kernel.transformers import apply_liger_kernel_to_llama

        apply_liger_kernel_to_llama(
            rope=True, rms_norm=True, swiglu=True, cross_entropy=False, fused_linear_cross_entropy=False, model=base
        )
    if (args.gradient_checkpointing and not v["nockpt"]) or v["ckptevery"]:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if v["ckptevery"]:  # selective: recompute only every N-th decoder layer (transformers' per-layer flag)
        for i, layer in enumerate(decoder_layers(base)):
            layer.gradient_checkpointing = i % v["ckptevery"] == 0
    model = add_adapter(base, PeftSettings(), "bench")
    if v["side"] == "ours":  # as the trainer does, less the levers a side switches off
        use_training_fast_paths(
            model,
            autocast=dtype != torch.float32,
            dropout=not v["torchdropout"],
            lean_forward=not v["peftforward"],
            fused_norm=not v["modelnorm"],
        )
    model.train()
    if v["compile"]:
        compile_layers(model)
    warmup = max(args.warmup, 3 if v["compile"] else 1)
    if v["side"] == "baseline":
        batches = padded_batches(examples, args.batch, pad_id)

        def step(b):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                out = model(
                    input_ids=b["input_ids"].to(device),
                    attention_mask=b["attention_mask"].to(device),
                    labels=b["labels"].to(device),
                )
            out.loss.backward()
    else:
        rows = v["rows"] or args.rows or args.batch
        batches = packed_batches(examples, rows, max_len, pad_id, flat=attn == VARLEN)  # as the trainer does
        loss_fn = PackedLoss(model)

        def step(b):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                total, n = loss_fn(*loss_inputs(b, device))
            (total / n.clamp(min=1)).backward()

    flags = [k for k in FLAGS if v[k]]
    name = "+".join([v["side"], attn, *flags] + ([f"ckptevery={v['ckptevery']}"] if v["ckptevery"] else []))
    return Side(name, model, step, batches, warmup, device)


def failed(spec: str, exc: Exception) -> None:
    print(f"{spec:>28}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")


def report(side: Side, gpu: bool) -> None:
    passes = side.done / len(side.timed)
    peak = f", peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if gpu else ""
    print(
        f"{side.name:>28}: {side.done} micro-batches ({passes:.1f} passes), {side.tokens:,} real tokens "
        f"({side.tokens / side.computed:.0%} of {side.computed:,} computed) in {side.seconds:.1f} s = "
        f"{side.rate:,.0f} real tokens/s (warm-up {side.warmup_seconds:.0f} s{peak})"
    )


if __name__ == "__main__":
    main()
