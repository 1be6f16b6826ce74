"""The training loss on packed rows: cross-entropy summed over loss-bearing tokens only.

The output head runs only on positions that carry a target (assistant tokens): with instruction
data a large share of tokens are prompts and pads, and the head (vocab x hidden) is one of the
biggest matrices of a small model, so this skips real work instead of masking it afterwards.
The head and the loss then run a chunk of tokens at a time (`linear_cross_entropy`), never holding
the whole [tokens, vocab] logits.
The sum (not the mean) is returned with the token count so gradient accumulation and multi-process
runs can divide by the global count: every token weighs the same however rows fall into batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from emergent.lm.attention import VARLEN
from emergent.lm.fast_paths import verified
from emergent.lm.linear_cross_entropy import linear_cross_entropy
from emergent.lm.packing import IGNORE


class PackedLoss(torch.nn.Module):
    """Wraps the (PEFT) causal LM so DDP/FSDP see one module whose forward returns (loss sum, tokens)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
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
        if not verified(base.config) or not isinstance(head, torch.nn.Linear):
            logits = self.model(input_ids=input_ids, position_ids=position_ids, use_cache=False, **extra).logits[keep]
            if segments is not None:
                return _segment_sums(
                    F.cross_entropy(logits.float(), targets[keep], reduction="none"), segments, n_segments
                )
            return F.cross_entropy(logits.float(), targets[keep], reduction="sum"), keep.sum()
        hidden = base.get_decoder()(
            input_ids=input_ids, position_ids=position_ids, attention_mask=None, use_cache=False, **extra
        ).last_hidden_state
        if segments is not None:
            return _segment_sums(_token_losses(hidden[keep], head, targets[keep]), segments, n_segments)
        return linear_cross_entropy(hidden[keep], head, targets[keep]), keep.sum()


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


def _segment_sums(losses: torch.Tensor, segments: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    sums = torch.zeros(n, dtype=torch.float32, device=losses.device).index_add_(0, segments, losses.float())
    counts = torch.zeros(n, dtype=torch.long, device=losses.device).index_add_(0, segments, torch.ones_like(segments))
    return sums, counts
