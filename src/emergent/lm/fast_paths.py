"""Which model architectures the trainer's own speed paths are verified on.

The chunked output head + loss (loss.py), the fused RMSNorm (train/rms_norm.py), the lean LoRA forward
(train/lora_forward.py) and the varlen / per-conversation attention (attention.py) each reproduce part of a
model's forward by hand. That is exact only where the model's forward is what they assume: no scaled
or soft-capped logits, Llama-style norms, plain causal attention. So they are switched on by model
type from this list — each entry has a test comparing loss and gradients with the model's own forward
on a tiny random instance (tests/train/test_fast_path_models.py) — and every other model trains on the
plain path (its own forward, sdpa, F.cross_entropy), with one warning saying so.
"""

from __future__ import annotations

from typing import Any

VERIFIED_MODEL_TYPES: frozenset[str] = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def verified(config: Any) -> bool:
    """The model's forward is one the hand-written paths reproduce exactly."""
    return getattr(config, "model_type", None) in VERIFIED_MODEL_TYPES and not _transforms_logits(config)


def attention_verified(config: Any) -> bool:
    """Varlen attention attends every earlier token of a conversation: not a sliding window."""
    window = getattr(config, "sliding_window", None)
    return verified(config) and (window is None or getattr(config, "use_sliding_window", True) is False)


def _transforms_logits(config: Any) -> bool:
    # A second guard inside the list: a checkpoint of a listed type may still set one of these.
    return bool(getattr(config, "final_logit_softcapping", None)) or any(
        getattr(config, key, 1.0) not in (None, 1.0) for key in ("logit_scale", "logits_scaling")
    )


def plain_path_warning(config: Any) -> str | None:
    """The one line a run on an unverified model prints, or None."""
    if verified(config):
        return None
    return (
        f"model type {getattr(config, 'model_type', '?')!r} is not among the architectures the fast training "
        f"paths are verified on ({', '.join(sorted(VERIFIED_MODEL_TYPES))}): training uses the model's own "
        "forward and sdpa attention (correct, slower)"
    )
