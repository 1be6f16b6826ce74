"""The records the stages hand each other: RUN/data/manifest.json (`Manifest`), RUN/train/train_summary.json
(`TrainSummary`, each phase a `PhaseSummary`, also phases/<phase>/phase.json), RUN/train/validation.jsonl
(`ValidationRecord` per line) and RUN/eval/eval.json (`EvalResult`).

Writers build their dict as before and write it through `write_*`, which validates it strictly: a key the
model does not know, or one it needs that is missing, fails at the write and names the model to extend.
Readers (`read_*`) are lenient the other way, so an older run still reads: a key the file lacks is None,
a key it has that the model no longer knows is ignored, and a file that does not fit raises one
`HandoffError` naming the file and the field. Every file carries `schema_version`; raise `SCHEMA_VERSION`
when a field changes meaning or type (adding an optional field does not need it).

Parts that are large and still changing (the dialogues, the judge's details, the dedup and
decontamination settings, the scorer and sandbox facts) are typed at their top only, as dict[str, Any].
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_serializer,
    model_validator,
)

SCHEMA_VERSION = 1
WRITING = {"writing": True}  # the validation context of the writers: unknown and missing keys fail


class HandoffError(ValueError):
    """A stage's output file that does not fit its record."""


class Record(BaseModel):
    """Base of every hand-off record: lenient on read, strict (through `WRITING`) on write."""

    model_config = ConfigDict(extra="ignore")
    # Keys a writer may leave out (a figure that exists only in some runs); every other field it must give.
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    # A record whose per-side entries sit beside its own keys ({"name": .., "base": {..}, "adapter": {..}}).
    SIDES_BESIDE: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        own = set(cls.model_fields) - {"sides"} if cls.SIDES_BESIDE else set(cls.model_fields)
        if cls.SIDES_BESIDE:
            data = {k: v for k, v in data.items() if k in own} | {
                "sides": {k: v for k, v in data.items() if k not in own}
            }
        if not (info.context or {}).get("writing"):
            return data
        # A record that keeps what it does not type (extra="allow") checks only what it types.
        unknown = [] if cls.model_config.get("extra") == "allow" else sorted(set(data) - set(cls.model_fields))
        missing = sorted(set(cls.model_fields) - set(data) - cls.OPTIONAL - {"schema_version"})
        if unknown or missing:
            raise ValueError(
                f"{cls.__name__}: "
                + "; ".join(
                    x
                    for x in (
                        f"unknown keys {unknown}" if unknown else "",
                        f"missing keys {missing}" if missing else "",
                    )
                    if x
                )
                + f" — the writer and emergent.handoff.{cls.__name__} must agree: add the field there (or the key here)"
            )
        return data

    @model_serializer(mode="wrap")
    def _flatten_sides(self, handler: Any) -> Any:
        out = handler(self)
        if not self.SIDES_BESIDE or not isinstance(out, dict) or "sides" not in out:
            return out
        flat: dict[str, Any] = {}
        for k, v in out.items():
            if k == "sides":
                flat.update(v)
            else:
                flat[k] = v
        return flat


# -- shared pieces ---------------------------------------------------------------------------------------


class Estimate(Record):
    """A figure with its bootstrap 95 % interval: {"mean", "ci95": [lo, hi], "n"}."""

    OPTIONAL = frozenset({"n"})
    mean: float | None = None
    ci95: tuple[float | None, float | None] = (None, None)
    n: int | None = None

    @property
    def lo(self) -> float | None:
        return self.ci95[0]

    @property
    def hi(self) -> float | None:
        return self.ci95[1]

    def text(self, digits: int = 3) -> str:
        """ "0.700 [0.600, 0.800]", "0.700" without an interval, "n/a" without a figure."""
        if self.mean is None:
            return "n/a"
        s = f"{self.mean:.{digits}f}"
        if self.lo is not None and self.hi is not None:
            s += f" [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"
        return s


class PairedTest(Record):
    """One test of a Holm family (stats.mcnemar_exact or stats.paired_bootstrap, then stats.verdicts)."""

    model_config = ConfigDict(extra="allow")  # a dialogue test adds "<side>_only" counts and "better"
    OPTIONAL = frozenset(
        {
            "test",
            "n",
            "p",
            "mean",
            "ci95",
            "base_only",
            "adapter_only",
            "metric",
            "context",
            "effect",
            "p_holm",
            "verdict",
        }
    )
    test: str | None = None
    n: int | None = None
    p: float | None = None
    mean: float | None = None
    ci95: tuple[float | None, float | None] | None = None
    base_only: int | None = None
    adapter_only: int | None = None
    metric: str | None = None
    context: str | None = None
    effect: float | None = None
    p_holm: float | None = None
    verdict: str | None = None


# -- manifest.json (curate/build.py) ---------------------------------------------------------------------


class CompositionStatus(StrEnum):
    """A bucket's share against its target range (curate/composition.py)."""

    OK = "ok"
    BELOW = "below"
    ABOVE = "above"
    ABOVE_MAX = "above_max"  # above max_bucket_share, whatever its target
    UNTARGETED = "untargeted"


class Counts(Record):
    """Where every input record went: input == the sum of the others (curate/build.ACCOUNTED_PARTS)."""

    input: int | None = None
    quarantined: int | None = None
    filtered: int | None = None
    exact_duplicates: int | None = None
    near_duplicates: int | None = None
    prompt_duplicates: int | None = None
    contaminated: int | None = None
    capped: int | None = None
    output: int | None = None


class SourceCounts(Counts):
    share: float | None = None
    license: str | None = None
    category: str | None = None  # the source's bucket, or "classified"
    categories: dict[str, int] = Field(default_factory=dict)


class BucketShare(Record):
    OPTIONAL = frozenset({"predicted", "from_config"})
    count: int = 0
    share: float = 0.0
    target: tuple[float, float] | None = None
    status: CompositionStatus | None = None
    predicted: int | None = None  # rows the classifier put here (not their source config)
    from_config: int | None = None


class Diversity(Record):
    entropy_bits: float | None = None
    effective_buckets: float | None = None
    max_entropy_bits: float | None = None


class PhaseFile(Record):
    examples: int | None = None
    tokens: int | None = None
    categories: dict[str, int] = Field(default_factory=dict)
    file: str | None = None


class HeldOutFile(PhaseFile):
    """The validation set: in no phase file (curate.validation's settings beside its counts)."""

    examples_per_category: int | None = None
    max_fraction: float | None = None


class Manifest(Record):
    """RUN/data/manifest.json: what `emergent data build` kept, dropped and why."""

    schema_version: int = SCHEMA_VERSION
    stage: str | None = None
    name: str | None = None
    seed: int | None = None
    counts: Counts = Field(default_factory=Counts)
    reasons: dict[str, int] | None = None
    sources: dict[str, SourceCounts] = Field(default_factory=dict)
    composition: dict[str, BucketShare] = Field(default_factory=dict)
    composition_before_dedup: dict[str, BucketShare] = Field(default_factory=dict)
    diversity: Diversity | None = None
    diversity_before_dedup: Diversity | None = None
    phases: dict[str, PhaseFile] = Field(default_factory=dict)
    validation: HeldOutFile | None = None
    notes: dict[str, Any] = Field(default_factory=dict)
    dedup: dict[str, Any] = Field(default_factory=dict)  # the dedup settings used, as configured
    decontamination: dict[str, Any] = Field(default_factory=dict)  # sets checked and their hits; still growing
    tokens: str | None = None
    shards: int | None = None
    persona_tags_stripped: int | None = None
    warnings: list[str] = Field(default_factory=list)
    window: dict[str, Any] = Field(default_factory=dict)  # the training window's per-source trims


# -- train_summary.json, phases/<phase>/phase.json, validation.jsonl (train/) ------------------------------


class PhaseReplay(Record):
    """How many of a phase's conversations trained on the base model's own reply (train/replay.py)."""

    OPTIONAL = frozenset({"resampled"})  # files written before session 20
    trained: int
    chosen: int
    replayed: int
    replayed_by_category: dict[str, int] = Field(default_factory=dict)
    trimmed: int
    resampled: int = 0  # replayed replies that are a sampled retry (absent in files from before session 20)
    kept_corpus_reply: dict[str, int] = Field(default_factory=dict)
    generated: int
    seconds: float


class PhaseSummary(Record):
    """One finished phase (train/phase_stats.PhaseStats.summary); also phases/<phase>/phase.json."""

    OPTIONAL = frozenset({"replay"})
    schema_version: int = SCHEMA_VERSION
    name: str
    categories: list[str] = Field(default_factory=list)
    learning_rate: float | None = None
    steps: int | None = None
    examples: int | None = None
    examples_by_category: dict[str, int] = Field(default_factory=dict)
    rows: int | None = None
    truncated: int | None = None
    dropped: dict[str, int] = Field(default_factory=dict)
    tokens: int | None = None
    loss_tokens: int | None = None
    loss_first: float | None = None
    loss_last: float | None = None
    loss_mean: float | None = None
    seconds: float | None = None
    tokens_per_s: float | None = None
    validation_loss: float | None = None
    validation_by_category: dict[str, float] | None = None
    replay: PhaseReplay | None = None  # training.replay runs only


class ValidationLoss(Record):
    OPTIONAL = frozenset({"examples", "loss_tokens"})
    loss: float | None = None
    by_category: dict[str, float] | None = None
    examples: int | None = None
    loss_tokens: int | None = None


class TrainValidation(Record):
    examples: int | None = None
    loss_tokens: int | None = None
    categories: dict[str, int] = Field(default_factory=dict)
    dropped: dict[str, int] = Field(default_factory=dict)
    base: ValidationLoss | None = None
    final: ValidationLoss | None = None
    log: str | None = None


class NoCurriculum(Record):
    """The no-curriculum control's plan (train/trainer.Mixture.summary)."""

    learning_rate: float | None = None
    learning_rate_from: str | None = None
    steps: int | None = None
    conversations: int | None = None
    curriculum: list[dict[str, Any]] = Field(default_factory=list)


class TrainSummary(Record):
    """RUN/train/train_summary.json: the run's settings and every phase's summary."""

    schema_version: int = SCHEMA_VERSION
    model: str | None = None
    peft: dict[str, Any] = Field(default_factory=dict)  # config.PeftConfig, dumped
    device: str | None = None
    precision: str | None = None
    world_size: int | None = None
    distributed: str | None = None  # accelerate's DistributedType value: NO, MULTI_GPU, FSDP, DEEPSPEED, ...
    packing: bool | None = None
    max_seq_len: int | None = None
    effective_batch: int | None = None
    trainable_parameters: int | None = None
    lr_scale: float | None = None
    curriculum: bool | None = None
    no_curriculum: NoCurriculum | None = None
    phases: list[PhaseSummary] = Field(default_factory=list)
    total_steps: int | None = None
    seconds: float | None = None
    adapter: str | None = None
    validation: TrainValidation | None = None
    warnings: list[str] = Field(default_factory=list)


class ValidationRecord(Record):
    """One line of RUN/train/validation.jsonl: the held-out loss at a step (train/validation.Validator)."""

    schema_version: int = SCHEMA_VERSION
    phase: str
    phase_index: int | None = None
    step: int | None = None
    global_step: int | None = None
    loss: float | None = None
    by_category: dict[str, float] = Field(default_factory=dict)
    examples: int | None = None
    loss_tokens: int | None = None
    seconds: float | None = None


class StepRecord(Record):
    """One line of RUN/train/metrics.jsonl (read only: the trainer writes it)."""

    phase: str | None = None
    phase_index: int | None = None
    step: int | None = None
    global_step: int | None = None
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens: int | None = None
    loss_tokens: int | None = None
    tokens_per_s: float | None = None
    seconds: float | None = None


# -- eval.json (evaluate/run.py, evaluate/cli.py score) --------------------------------------------------


class PrimarySide(Estimate):
    missing: int | None = None
    per_context: dict[str, Estimate] = Field(default_factory=dict)
    graded: Estimate | None = None


class Spread(Record):
    """How much several adapters scored in one file (e.g. training seeds) vary."""

    sides: list[str] = Field(default_factory=list)
    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    n: int | None = None


class ContextDifference(Record):
    mean: float | None = None
    n: int | None = None
    mcnemar: PairedTest | None = None
    graded: PairedTest | None = None


class PrimaryDifference(Estimate):
    per_context: dict[str, ContextDifference] = Field(default_factory=dict)


class Primary(Record):
    """The pre-declared primary metric (evaluate/primary.py); each side's figures sit beside its own keys."""

    SIDES_BESIDE = True
    OPTIONAL = frozenset({"spread", "difference"})
    name: str | None = None
    definition: str | None = None
    contexts: list[str] = Field(default_factory=list)
    items_checked: int | None = None
    items_without_checks: int | None = None
    sides: dict[str, PrimarySide] = Field(default_factory=dict)
    spread: Spread | None = None
    difference: PrimaryDifference | None = None


class TestFamily(Record):
    correction: str | None = None
    alpha: float | None = None
    min_n_for_verdict: int | None = None
    family: list[PairedTest] = Field(default_factory=list)


class Coverage(Record):
    items: int | None = None
    missing: int | None = None
    missing_ids: list[str] = Field(default_factory=list)
    unknown_rows: int | None = None


class Confusion(Record):
    labels: list[str] = Field(default_factory=list)
    rows_expected_cols_predicted: list[list[int]] = Field(default_factory=list)


class RangeSide(Estimate):
    per_context: dict[str, Estimate] = Field(default_factory=dict)
    style_hit: Estimate | None = None
    fit: Estimate | None = None
    confusion: Confusion | None = None


class ConsistencySide(Estimate):
    all_turns_on_target: Estimate | None = None


class TransitionSide(Estimate):
    switched: Estimate | None = None
    carry_over: Estimate | None = None


class Predictability(Estimate):
    chance: float | None = None
    folds: int | None = None


class CollapseSide(Record):
    context_predictability: Predictability | None = None
    distinct_1: float | None = None
    distinct_2: float | None = None
    self_bleu: Estimate | None = None
    compression_ratio: float | None = None
    features: list[str] = Field(default_factory=list)


class DepthSide(Estimate):
    OPTIONAL = frozenset({"n", "words_simple", "words_complex"})  # fewer than 3 prompts: the estimate alone
    words_simple: float | None = None
    words_complex: float | None = None


class _BySide(Record):
    """{side: figures, "difference": adapter − base} as eval.json groups a secondary metric."""

    SIDES_BESIDE = True
    OPTIONAL = frozenset({"difference"})
    difference: Estimate | None = None


class RangeMetric(_BySide):
    sides: dict[str, RangeSide] = Field(default_factory=dict)


class ConsistencyMetric(_BySide):
    sides: dict[str, ConsistencySide] = Field(default_factory=dict)


class TransitionMetric(_BySide):
    sides: dict[str, TransitionSide] = Field(default_factory=dict)


class CollapseMetric(_BySide):
    sides: dict[str, CollapseSide] = Field(default_factory=dict)


class DepthMetric(_BySide):
    sides: dict[str, DepthSide] = Field(default_factory=dict)


class HeldoutSide(Record):
    loss: float | None = None


class HeldoutBucket(Record):
    """One bucket of the held-out loss: its size, each side's loss beside, adapter − base and its test."""

    SIDES_BESIDE = True
    OPTIONAL = frozenset({"difference", "test"})
    examples: int | None = None
    sides: dict[str, float | None] = Field(default_factory=dict)
    difference: Estimate | None = None
    test: PairedTest | None = None


class Heldout(Record):
    """Held-out loss, base vs adapter (evaluate/heldout.py); each side's {"loss"} sits beside its own keys."""

    SIDES_BESIDE = True
    OPTIONAL = frozenset({"difference"})
    data: str | None = None
    examples: int | None = None
    loss_tokens: int | None = None
    dropped: dict[str, int] = Field(default_factory=dict)
    max_seq_len: int | None = None
    sides: dict[str, HeldoutSide] = Field(default_factory=dict)
    difference: Estimate | None = None
    by_category: dict[str, HeldoutBucket] = Field(default_factory=dict)
    seconds: float | None = None


class Contamination(Record):
    """The suite's n-gram overlap with the training mixture (evaluate/contamination.py)."""

    OPTIONAL = frozenset({"ngram", "exact_below_words", "data", "records", "items", "contaminated", "rate", "reason"})
    checked: bool = False
    ngram: int | None = None
    exact_below_words: int | None = None
    data: str | None = None
    records: int | None = None
    items: int | None = None
    contaminated: list[str] = Field(default_factory=list)
    rate: float | None = None
    reason: str | None = None  # why it was not checked


class Judge(Record):
    """The optional LLM judge (evaluate/judge.py): its stable figures typed; per-side rubric scores
    (rubric_<side>), call counts, per-context/per-kind rates and verdicts kept as written."""

    model_config = ConfigDict(extra="allow")
    OPTIONAL = frozenset(
        {"items", "parse_rate", "win_rate", "length_controlled_win_rate", "flip_rate", "p_prefers_longer"}
    )
    model: str | None = None
    pair: list[str] = Field(default_factory=list)
    items: int | None = None
    parse_rate: float | None = None
    win_rate: Estimate | None = None
    length_controlled_win_rate: Estimate | None = None
    flip_rate: Estimate | None = None
    p_prefers_longer: Estimate | None = None

    def rubric(self, side: str) -> Estimate | None:
        v = (self.model_extra or {}).get(f"rubric_{side}")
        return Estimate.model_validate(v) if isinstance(v, dict) else None


class SuiteSummary(Record):
    OPTIONAL = frozenset({"checked_items", "checked_dialogues"})
    files: list[str] = Field(default_factory=list)
    prompts: int | None = None
    checked_items: int | None = None
    consistency_dialogues: int | None = None
    transition_dialogues: int | None = None
    checked_dialogues: dict[str, int] = Field(default_factory=dict)
    contexts: list[str] = Field(default_factory=list)


class EvalResult(Record):
    """RUN/eval/eval.json: primary metric and its tests first, then the secondary metrics and run facts.

    `emergent eval` and `emergent eval score` write the same keys (the score command adds `scored_from`).
    """

    OPTIONAL = frozenset({"scored_from"})
    primary: Primary | None = None  # first: a reader opening the file sees the pre-declared metric first
    model: str | None = None
    adapter: str | None = None
    sides: list[str] = Field(default_factory=list)
    device: str | None = None
    precision: str | None = None
    decoding: dict[str, Any] | None = None  # EvalConfig.decoding, dumped
    prompted_system_prompt: str | None = None
    generations_reused: list[str] = Field(default_factory=list)
    suite: SuiteSummary | None = None
    scorer: dict[str, Any] = Field(default_factory=dict)  # the prototypes and their build facts
    sandbox: dict[str, Any] = Field(default_factory=dict)  # the isolation layers this machine gave
    tests: TestFamily | None = None
    coverage: dict[str, Coverage] = Field(default_factory=dict)
    dialogues: dict[str, Any] | None = None  # evaluate/dialogue.py: still growing, typed by its reader
    range: RangeMetric | None = None
    consistency: ConsistencyMetric | None = None
    transitions: TransitionMetric | None = None
    collapse: CollapseMetric | None = None
    depth: DepthMetric | None = None
    heldout: Heldout | None = None
    contamination: Contamination | None = None
    judge: Judge | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    scored_from: str | None = None  # `eval score`: the generations file it scored
    schema_version: int = SCHEMA_VERSION


# -- reading and writing ---------------------------------------------------------------------------------

R = TypeVar("R", bound=Record)


def _explain(path: Path, err: ValidationError) -> str:
    e = err.errors()[0]
    # The per-side entries of a SIDES_BESIDE record sit beside its keys in the file: name them as the file does.
    raw = list(e["loc"])
    loc = [
        x for i, x in enumerate(raw) if not (i and x == "sides" and i + 1 < len(raw) and isinstance(raw[i + 1], str))
    ]
    where = ".".join(str(x) for x in loc) or "(top level)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    msg = e["msg"].removeprefix("Value error, ")
    return f"{path}: {where}: {msg}{more}"


def validated(model: type[R], data: dict[str, Any], path: Path | str = "<record>") -> R:
    """`data` as `model`, checked as a writer's output is: every key known, every needed key present.

    Adds `schema_version` to `data` itself, so that what a stage returns is what it wrote."""
    data.setdefault("schema_version", SCHEMA_VERSION)
    try:
        return model.model_validate(data, context=WRITING)
    except ValidationError as err:
        raise HandoffError(_explain(Path(path), err) + " — this is a bug in the stage that wrote it") from None


def write_record(path: Path, model: type[R], data: dict[str, Any]) -> R:
    """Validate `data` strictly as `model` and write it to `path` as indented JSON; returns the record."""
    rec = validated(model, data, path)
    Path(path).write_text(rec.model_dump_json(indent=2, exclude_unset=True) + "\n", encoding="utf-8")
    return rec


def read_record(path: Path, model: type[R]) -> R:
    """The record in `path`; HandoffError naming the file and the field when it does not fit."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise HandoffError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as err:
        raise HandoffError(
            _explain(Path(path), err) + f" — does not fit {model.__name__}; rerun the stage that wrote it"
        ) from None


def write_manifest(path: Path, data: dict[str, Any]) -> Manifest:
    return write_record(path, Manifest, data)


def read_manifest(path: Path) -> Manifest:
    return read_record(path, Manifest)


def write_train_summary(path: Path, summary: dict[str, Any]) -> TrainSummary:
    return write_record(path, TrainSummary, summary)


def read_train_summary(path: Path) -> TrainSummary:
    return read_record(path, TrainSummary)


def write_phase_summary(path: Path, summary: dict[str, Any]) -> PhaseSummary:
    return write_record(path, PhaseSummary, summary)


def read_phase_summary(path: Path) -> PhaseSummary:
    return read_record(path, PhaseSummary)


def write_eval_result(path: Path, result: dict[str, Any]) -> EvalResult:
    return write_record(path, EvalResult, result)


def read_eval_result(path: Path) -> EvalResult:
    return read_record(path, EvalResult)


def validation_line(record: dict[str, Any]) -> str:
    """One validation.jsonl line (newline included), checked as `ValidationRecord`."""
    return validated(ValidationRecord, record, "validation.jsonl").model_dump_json(exclude_unset=True) + "\n"


def read_jsonl_records(path: Path, model: type[R]) -> list[R]:
    """The records of a JSONL file; a line cut by a crash (not JSON) is skipped, a line that is JSON but
    does not fit raises HandoffError naming the file, the line and the field."""
    out: list[R] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for i, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        try:
            out.append(model.model_validate(obj))
        except ValidationError as err:
            raise HandoffError(_explain(Path(f"{path}:{i}"), err)) from None
    return out


def read_validation_log(path: Path) -> list[ValidationRecord]:
    return read_jsonl_records(path, ValidationRecord)
