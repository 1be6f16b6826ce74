"""Config for curation (filters, dedup, decontamination, categories, composition, validation set).

Defaults are the seed's numbers; configs/seed.yaml and configs/quickstart.yaml repeat them so a
reader sees every knob in one place. Which buckets each phase file holds is the run's
`curriculum:` section (emergent/config.py), shared with training.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emergent.schema import normalize_category

_STRICT = ConfigDict(extra="forbid")


def _first_repeat(names: list[str]) -> str | None:
    """The alphabetically first name listed more than once, or None."""
    return min((n for n in set(names) if names.count(n) > 1), default=None)


class FilterConfig(BaseModel):
    """Quality filters; each is on/off. Token counts are approximate: UTF-8 chars / chars_per_token."""

    model_config = _STRICT

    min_tokens: int | None = Field(default=8, ge=0)
    max_tokens: int | None = Field(default=4096, gt=0)
    # English text with SmolLM2's tokenizer averages ~4 characters per token (bench/RESULTS.md, "Approximate token counts").
    chars_per_token: float = Field(default=4.0, gt=0)
    repeated_lines: bool = True
    max_duplicate_line_fraction: float = Field(default=0.3, gt=0, le=1)
    repeated_ngrams: bool = True
    ngram_size: int = Field(default=3, ge=1)
    max_top_ngram_fraction: float = Field(default=0.35, gt=0, le=1)
    min_words_for_ngram_check: int = Field(default=50, ge=1)
    assistant_echo: bool = True
    offensive: bool = True
    offensive_threshold: float = Field(default=0.9, ge=0, le=1)
    # Red-team prompts with a safe answer teach the ethical behaviour we want: by default only an
    # offensive *assistant* turn drops a record; an offensive user turn is counted, not dropped.
    drop_offensive_user: bool = False
    # Not scored for offensiveness (fables' "Ass" and "Cock" trip the model).
    offensive_skip_categories: list[str] = Field(default_factory=lambda: ["creative"])

    @field_validator("offensive_skip_categories")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return [normalize_category(c) for c in v]


class ExactDedupConfig(BaseModel):
    model_config = _STRICT

    enabled: bool = True


class NearDedupConfig(BaseModel):
    """MinHash-LSH over word n-gram shingles of the whole normalised conversation."""

    model_config = _STRICT

    enabled: bool = True
    ngram: int = Field(default=5, ge=1)
    num_perm: int = Field(default=128, ge=16, le=1024)
    threshold: float = Field(default=0.8, gt=0, lt=1)
    # None: derived from the threshold (the band/row split minimising weighted false positives +
    # negatives). Verified candidates make false positives cheap, so misses weigh 0.95 -> 16 x 8.
    false_negative_weight: float = Field(default=0.95, gt=0, lt=1)
    bands: int | None = Field(default=None, gt=0)
    rows: int | None = Field(default=None, gt=0)
    # Candidate pairs from LSH are kept only when their Jaccard reaches the threshold: with
    # exact_jaccard, the exact Jaccard of their shingle sets (the candidates' staged texts are re-read
    # once, after pass 1), else the signature estimate (sd ~0.035 at 0.8 / 128 permutations).
    verify: bool = True
    exact_jaccard: bool = True

    @model_validator(mode="after")
    def _bands_rows(self) -> NearDedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("curate.near_dedup: set both bands and rows, or neither (derived from threshold)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"curate.near_dedup: bands*rows = {self.bands * self.rows} > num_perm = {self.num_perm}")
        return self


class PromptDedupConfig(BaseModel):
    """Keep one answer per identical (normalised) prompt. Off by default: corpora such as counsel-chat
    answer one question several times on purpose. On, it finds translations of the same fable and
    re-answered tasks, which share no word 5-grams (see bench/RESULTS.md, real near-duplicates)."""

    model_config = _STRICT

    enabled: bool = False
    # Only records of these sources take part (None: every source) — e.g. [aesop], whose files are
    # translations of one another, without touching counsel-chat's deliberate second answers.
    sources: list[str] | None = None


class EvalSetConfig(BaseModel):
    """A public evaluation set that training must not contain. Its file may be absent on a machine:
    the build then skips it and says so in the manifest."""

    model_config = _STRICT

    name: str
    path: str  # relative to the config's folder
    # A reader (a source format such as hh_rlhf): each record's first user turn is a prompt. None:
    # every prompt/question/instruction/text field and user turn of the file's rows.
    format: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # the reader's options, as on a source
    # Only rows whose integer task_id lies in [first, last] (MBPP's test split is 11-510).
    task_ids: tuple[int, int] | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str | None) -> str | None:
        from emergent.data.formats import FORMATS

        if v is not None and v not in FORMATS:
            raise ValueError(f"unknown format {v!r} — use one of: {', '.join(sorted(FORMATS))}")
        return v


class DecontaminateConfig(BaseModel):
    """Drop records that contain an evaluation prompt: the eval suites, `files` and `sets` (see
    curate/decontaminate.py for what matches), and hold out the evaluation part of `evaluation_parts`."""

    model_config = _STRICT

    enabled: bool = True
    ngram: int = Field(default=13, ge=2)
    eval_suites: bool = True
    files: list[str] = Field(default_factory=list)  # your own prompt files: a missing one is an error
    sets: list[EvalSetConfig] = Field(default_factory=list)
    # Sources that are an evaluation split and also the only corpus of their kind: a stable hash of each
    # record's first user turn holds one in five out of training, as their evaluation part (eval_sets.py).
    evaluation_parts: list[str] = Field(default_factory=list)

    @field_validator("sets")
    @classmethod
    def _unique_sets(cls, v: list[EvalSetConfig]) -> list[EvalSetConfig]:
        if repeat := _first_repeat([s.name for s in v]):
            raise ValueError(f"curate.decontaminate.sets: {repeat!r} is listed twice — give each set a unique name")
        return v


class CategoriseConfig(BaseModel):
    """Source default category when given; otherwise the shipped classifier."""

    model_config = _STRICT

    batch_size: int = Field(default=1024, gt=0)
    # Used only when no classifier is installed; the build warns when it happens.
    fallback_category: str = "instructional"

    @field_validator("fallback_category")
    @classmethod
    def _known(cls, v: str) -> str:
        return normalize_category(v)


class CapsConfig(BaseModel):
    """Optional build-time caps (max share of the output) with deterministic downsampling."""

    model_config = _STRICT

    sources: dict[str, float] = Field(default_factory=dict)
    categories: dict[str, float] = Field(default_factory=dict)
    # Cap every bucket at the upper bound of its target range (curate.targets); `categories` entries
    # override. Downsampling only: a bucket below its range stays below, and the build says so.
    categories_from_targets: bool = False

    @field_validator("categories")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        return {normalize_category(k): s for k, s in v.items()}

    @field_validator("sources", "categories")
    @classmethod
    def _share(cls, v: dict[str, float]) -> dict[str, float]:
        for k, s in v.items():
            if not 0 < s <= 1:
                raise ValueError(f"cap for {k!r} is {s}: a cap is a share of the output in (0, 1]")
        return v


class ValidationConfig(BaseModel):
    """A held-out validation set, stratified by bucket: `OUT/validation.parquet`.

    Its records stay in the curated mixture (conversations/) but never reach a phase file, so the
    training loss on them (and the evaluation's base-vs-adapter held-out loss) is measured on
    conversations the adapter never saw. A fixed count per bucket, not a share of the mixture: each
    bucket's loss then has the same precision whatever its size. Every other answer to a held-out
    prompt is held out with it, so no prompt is both trained on and validated on.
    """

    model_config = _STRICT

    examples_per_category: int = Field(default=200, ge=0)  # 0: no validation set
    # At most this share of any bucket is held out, so a small bucket keeps most of its data for training.
    max_fraction: float = Field(default=0.05, gt=0, le=0.5)


def seed_targets() -> dict[str, tuple[float, float]]:
    """The seed's target share range per bucket (its lower bounds sum to 105 %)."""
    return {
        "technical": (0.25, 0.30),
        "instructional": (0.20, 0.25),
        "analytical": (0.15, 0.20),
        "conversational": (0.12, 0.15),
        "empathetic": (0.10, 0.12),
        "creative": (0.08, 0.10),
        "tool_use": (0.05, 0.08),
        "factual": (0.05, 0.08),
        "ethical": (0.03, 0.05),
        "specialized": (0.02, 0.04),
    }


class CurateConfig(BaseModel):
    """How `emergent data build` turns ingested conversations into the curated mixture and phase files."""

    model_config = _STRICT

    filters: FilterConfig = Field(default_factory=FilterConfig)
    exact_dedup: ExactDedupConfig = Field(default_factory=ExactDedupConfig)
    near_dedup: NearDedupConfig = Field(default_factory=NearDedupConfig)
    prompt_dedup: PromptDedupConfig = Field(default_factory=PromptDedupConfig)
    decontaminate: DecontaminateConfig = Field(default_factory=DecontaminateConfig)
    categorise: CategoriseConfig = Field(default_factory=CategoriseConfig)
    # Which duplicate survives: earlier source in `sources`, then the longer conversation.
    keep_priority: list[Literal["source_order", "longest"]] = Field(default_factory=lambda: ["source_order", "longest"])
    targets: dict[str, tuple[float, float]] = Field(default_factory=seed_targets)
    # No bucket may take more of the output: a larger one is downsampled (seeded, reason
    # capped_max_bucket_share), like `caps`; a tighter cap of its own (caps.categories) wins.
    max_bucket_share: float = Field(default=0.30, gt=0, le=1)
    caps: CapsConfig = Field(default_factory=CapsConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    # Records per worker task; 0 workers = in-process (deterministic either way).
    workers: int = Field(default=2, ge=0)
    chunk_size: int = Field(default=2048, gt=0)
    # "ray": pass 1 and the LSH banding run on Ray Data (pip install 'emergent[ray]'); same output.
    executor: Literal["local", "ray"] = "local"
    # Ray cluster address; None = $RAY_ADDRESS, else a local cluster started for the build.
    ray_address: str | None = None

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        out = {}
        for name, (lo, hi) in v.items():
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"target for {name!r} is [{lo}, {hi}]: use shares with 0 <= lo <= hi <= 1")
            out[normalize_category(name)] = (lo, hi)
        return out
