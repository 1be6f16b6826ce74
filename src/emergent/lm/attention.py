"""Variable-length attention for packed rows: each conversation attends only to itself, no mask built.

With `sdpa`, transformers turns restarted position ids into a [batch, 1, seq, seq] boolean mask and
SDPA must then use its masked (memory-efficient) kernel, computing every cross-document block only
to mask it. Here the packed rows are flattened to one token stream with cumulative sequence
lengths (`cu_seqlens`) and handed to PyTorch's flash-attention varlen kernel
(`torch.nn.attention.varlen.varlen_attn`, CUDA), which skips those blocks entirely.

The collator already knows where each conversation starts, so it computes `cu_seqlens` on the host
and the trainer passes it down through the model's keyword arguments; no per-layer device sync.
On CPU the same function attends each conversation on its own (`cpu_attention.py`), faster than
masked SDPA there (bench/RESULTS.md, CPU session 4) and the default (`auto`); tests check it
against masked `sdpa`.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

import torch

from emergent.lm.cpu_attention import packed_causal_attention
from emergent.lm.fast_paths import attention_verified

VARLEN = "emergent_varlen"
_KERNEL: tuple[Any, frozenset[str]] | None = None


@lru_cache(maxsize=1)
def _varlen_kernel() -> tuple[Any, frozenset[str]] | None:
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn, frozenset(inspect.signature(varlen_attn).parameters)


def varlen_available(device: torch.device) -> bool:
    """True where the flash varlen kernel can run: a CUDA device and a PyTorch that ships it (>= 2.10)."""
    return device.type == "cuda" and _varlen_kernel() is not None


def cu_seqlens_from_positions(position_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Cumulative lengths over the flattened [batch * seq] stream: a new sequence wherever a position is 0.

    Fallback when the caller did not pass `cu_seqlens` (it syncs with the device once per forward).
    """
    flat = position_ids.reshape(-1)
    starts = torch.nonzero(flat == 0).flatten()
    ends = torch.cat([starts, torch.tensor([flat.numel()], device=flat.device)])
    return ends.to(torch.int32), int((ends[1:] - ends[:-1]).max())


def varlen_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    cu_seq_lens_q: torch.Tensor | None = None,
    max_length_q: int | None = None,
    position_ids: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention interface: q/k/v [batch, heads, seq, dim] -> output [batch, seq, heads, dim]."""
    if dropout:
        raise ValueError("attention dropout is not supported with packed varlen attention; set it to 0")
    batch, heads, seq, dim = query.shape
    if cu_seq_lens_q is None:
        if position_ids is None:
            raise ValueError(f"{VARLEN} needs position_ids or cu_seq_lens_q to know where sequences start")
        # transformers' default position ids are one [1, seq] row for the whole batch.
        cu_seq_lens_q, max_length_q = cu_seqlens_from_positions(position_ids.expand(batch, -1))
    cu = cu_seq_lens_q.to(device=query.device, dtype=torch.int32)
    if not query.is_cuda and not torch.compiler.is_compiling() and int(cu[-1]) != batch * seq:  # no per-layer sync
        raise ValueError(f"cu_seqlens ends at {int(cu[-1])}, but the batch holds {batch * seq} tokens")
    scale = scaling if scaling is not None else dim**-0.5
    kernel = _KERNEL if query.is_cuda else None
    if kernel is None:
        out = packed_causal_attention(query, key, value, cu, scale)
    else:
        q, k, v = (t.transpose(1, 2).reshape(batch * seq, t.shape[1], dim) for t in (query, key, value))
        if k.shape[1] != heads and "enable_gqa" not in kernel[1]:  # share each kv head across its group
            k, v = (t.repeat_interleave(heads // t.shape[1], dim=1) for t in (k, v))
        fn, params = kernel
        extra: dict[str, Any] = {}
        if "scale" in params:
            extra["scale"] = scale
        elif abs(scale - dim**-0.5) > 1e-12:
            raise ValueError(f"this PyTorch's varlen_attn has no scale argument; the model needs scale {scale}")
        if "window_size" in params:
            extra["window_size"] = (-1, 0)  # causal
        else:
            extra["is_causal"] = True
        if k.shape[1] != heads:
            extra["enable_gqa"] = True
        # Compiled layers see the row width (an upper bound the kernel accepts) rather than a Python
        # int that changes every batch and would make dynamo recompile.
        compiling = torch.compiler.is_compiling()
        max_len = seq if compiling or max_length_q is None else int(max_length_q)
        out = fn(q, k, v, cu, cu, max_len, max_len, **extra)
    return out.reshape(batch, seq, heads, dim), None


def _no_mask(*args: Any, **kwargs: Any) -> None:
    # Sequence boundaries travel as cu_seqlens; building a dense mask would only cost time.
    return None


def register_varlen() -> str:
    """Make `attn_implementation=VARLEN` known to transformers; returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    global _KERNEL
    _KERNEL = _varlen_kernel()  # resolved here, outside any compiled region
    AttentionInterface.register(VARLEN, varlen_attention_forward)
    AttentionMaskInterface.register(VARLEN, _no_mask)
    return VARLEN


def flat_batches(packing: bool, model: torch.nn.Module) -> bool:
    """Padding-free micro-batches (packing.collate(flat=True)): only varlen attention takes the
    conversation boundaries from cu_seqlens; every other implementation needs rows."""
    return packing and model.config._attn_implementation == VARLEN


def resolve_attn_implementation(asked: str, device: torch.device, config: Any = None) -> str:
    """`auto`: varlen on CUDA where the kernel exists and on CPU (the per-sequence path), else sdpa; sdpa
    for architectures varlen is not verified on (`config`: the model's config, fast_paths.py).

    Asking for varlen on a GPU without the kernel fails clearly.
    """
    if asked == "auto":
        fits = config is None or attention_verified(config)
        asked = "varlen" if fits and (varlen_available(device) or device.type == "cpu") else "sdpa"
    if asked in ("varlen", VARLEN):
        if device.type == "cuda" and not varlen_available(device):
            raise ValueError(
                f"model.attn_implementation varlen needs torch.nn.attention.varlen (PyTorch >= 2.10); this is "
                f"PyTorch {torch.__version__} — upgrade it or set model.attn_implementation: sdpa"
            )
        return register_varlen()
    return asked
