"""The training loss on packed rows: cross-entropy summed over loss-bearing tokens only.

The output head runs only on positions that carry a target (assistant tokens): with instruction
data a large share of tokens are prompts and pads, and the head (vocab x hidden) is one of the
biggest matrices of a small model, so this skips real work instead of masking it afterwards.
The head and the loss then run a chunk of tokens at a time (`linear_cross_entropy`), never holding
the whole [tokens, vocab] logits.
The sum (not the mean) is returned with the token count so gradient accumulation and multi-process
runs can divide by the global count: every token weighs the same however rows fall into batches.

`kl_to_base` adds KL(base || adapter) over the same tokens, summed the same way: the base model is the
PEFT model with its adapter switched off, run once more without gradient. It holds the adapter's
next-token distribution near the base model's wherever the data does not pull it away (docs/design.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from emergent.lm.attention import VARLEN
from emergent.lm.fast_paths import verified
from emergent.lm.linear_cross_entropy import linear_cross_entropy
from emergent.lm.packing import IGNORE


class PackedLoss(torch.nn.Module):
    """Wraps the (PEFT) causal LM so DDP/FSDP see one module whose forward returns (loss sum, tokens)."""

    def __init__(self, model: torch.nn.Module, kl_to_base: float = 0.0) -> None:
        super().__init__()
        self.model = model
        if kl_to_base and not hasattr(model, "disable_adapter"):
            raise ValueError("kl_to_base needs a PEFT model: the base model is the adapter switched off")
        self.kl_to_base = kl_to_base
        # The last training forward's (cross-entropy sum, KL sum), detached: the trainer logs them apart.
        self.last_parts: tuple[torch.Tensor, torch.Tensor] | None = None
        # FSDP's transformer wrap policy reads the layer classes to shard one by one from the root module.
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self._no_split_modules = getattr(base, "_no_split_modules", None)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        targets: torch.Tensor,
        cu_seqlens: torch.Tensor | None = None,
        max_seqlen: int | None = None,
        segments: torch.Tensor | None = None,
        n_segments: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss sum, loss-token count); with `segments` (the group of every loss-bearing token, in
        order, e.g. its conversation) both are per group, [n_segments] each — for validation, no gradient."""
        keep = targets != IGNORE
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        extra = {}
        if cu_seqlens is not None and base.config._attn_implementation == VARLEN:
            # transformers passes these keyword arguments down to every attention call.
            extra = dict(
                cu_seq_lens_q=cu_seqlens, cu_seq_lens_k=cu_seqlens, max_length_q=max_seqlen, max_length_k=max_seqlen
            )
        head = base.get_output_embeddings()
        # Only on verified architectures: the model's own forward may scale or cap the logits.
        fused = verified(base.config) and isinstance(head, torch.nn.Linear)
        kl = bool(self.kl_to_base) and segments is None  # validation measures the cross-entropy alone

        def outputs() -> torch.Tensor:  # [loss tokens, hidden] on the fused path, else [loss tokens, vocab]
            if not fused:
                return self.model(input_ids=input_ids, position_ids=position_ids, use_cache=False, **extra).logits[keep]
            return base.get_decoder()(
                input_ids=input_ids, position_ids=position_ids, attention_mask=None, use_cache=False, **extra
            ).last_hidden_state[keep]

        out = outputs()
        if segments is not None:
            losses = (
                _token_losses(out, head, targets[keep])
                if fused
                else F.cross_entropy(out.float(), targets[keep], reduction="none")
            )
            return _segment_sums(losses, segments, n_segments)
        ce = (
            linear_cross_entropy(out, head, targets[keep])
            if fused
            else F.cross_entropy(out.float(), targets[keep], reduction="sum")
        )
        if not kl:
            return ce, keep.sum()
        with torch.no_grad(), self.model.disable_adapter():
            reference = outputs()
        divergence = _kl_sum(out, reference, head if fused else None)
        self.last_parts = (ce.detach(), divergence.detach())
        return ce + self.kl_to_base * divergence, keep.sum()


def _token_losses(
    hidden: torch.Tensor, head: torch.nn.Linear, targets: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    # A chunk of tokens at a time: the [tokens, vocab] fp32 logits of a whole batch can be gigabytes.
    return torch.cat(
        [
            F.cross_entropy(head(hidden[i : i + chunk]).float(), targets[i : i + chunk], reduction="none")
            for i in range(0, hidden.shape[0], chunk)
        ]
        or [hidden.new_zeros(0, dtype=torch.float32)]
    )


def _kl_sum(
    out: torch.Tensor, reference: torch.Tensor, head: torch.nn.Linear | None, chunk: int = 1024
) -> torch.Tensor:
    """Summed KL(reference || out) over tokens. With `head`, both are hidden states and the logits are made a
    chunk at a time and made again in backward (checkpoint), so no [tokens, vocab] tensor outlives its chunk."""

    def part(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if head is not None:
            a, b = head(a), head(b)
        return F.kl_div(
            F.log_softmax(a.float(), dim=-1), F.log_softmax(b.float(), dim=-1), log_target=True, reduction="sum"
        )

    total = out.new_zeros((), dtype=torch.float32)
    for i in range(0, out.shape[0], chunk):
        a, b = out[i : i + chunk], reference[i : i + chunk]
        total = total + (checkpoint(part, a, b, use_reentrant=False) if head is not None else part(a, b))
    return total


def _segment_sums(losses: torch.Tensor, segments: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    sums = torch.zeros(n, dtype=torch.float32, device=losses.device).index_add_(0, segments, losses.float())
    counts = torch.zeros(n, dtype=torch.long, device=losses.device).index_add_(0, segments, torch.ones_like(segments))
    return sums, counts
