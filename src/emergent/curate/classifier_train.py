"""Training and honest measurement of the category classifier (`emergent data train-classifier`).

One command rebuilds the shipped models from configs/classifier.yaml:
  1. the pool: single-bucket corpora and mapped corpora, capped per source, each example as the
     whole conversation and as its request alone;
  2. the fast model (the default): static MiniLM piece vectors (+ optional hashed n-grams) and a
     linear head, fitted on the pool and the hand-written training half (weighted up: it is the
     only place every bucket is written the way users write);
  3. the embedding model (opt-in, `classify --embeddings`): MiniLM sentence embeddings and a linear
     head on the same data. With `distil`, it also relabels the pool before step 2.
Measured: the hand-written test half (never trained on), leave-one-source-out (each pool source in
turn left out of both models, then scored), confusion matrices, per-source predicted buckets.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from emergent.curate.classifier import Classifier, FeatureSettings, evaluate
from emergent.curate.classifier_data import (
    HANDWRITTEN,
    capped,
    classifier_text,
    mapped_examples,
    read_handwritten,
    read_mapping,
    with_requests,
)
from emergent.curate.classifier_embed import EmbeddingClassifier, Encoder
from emergent.curate.classifier_static import StaticVectors


class MappedSource(BaseModel):
    """A mixed corpus of `sources:` labelled per row through a reviewed mapping file."""

    model_config = ConfigDict(extra="forbid")
    source: str
    field: str
    mapping: str  # relative to the config file


class ClassifierConfig(FeatureSettings):
    """The `classifier:` section of configs/classifier.yaml (defaults live there)."""

    handwritten: str | None = None  # relative to the config file; None: the packaged labels/handwritten.jsonl
    handwritten_weight: float = Field(
        default=30.0, gt=0
    )  # of each hand-written training request, against 1 per pool example
    mapped: list[MappedSource] = Field(default_factory=list)
    max_per_source: int = Field(default=300, gt=0)
    # Weigh the pool's examples so that every bucket carries the same total (the fast model): with two
    # sources in a bucket, leaving one out halves that bucket's weight and the model stops predicting it.
    balance_buckets: bool = False
    distil: bool = True  # relabel the pool with the embedding teacher before fitting the fast model
    embed_max_tokens: int = Field(default=128, ge=16, le=512)
    embed_cache: str | None = "/tmp/emergent-classifier-embeddings"
    teacher_c: float = Field(default=10.0, gt=0)
    teacher_handwritten_weight: float = Field(default=30.0, gt=0)
    regularization_c: float = Field(default=4.0, gt=0)
    max_iter: int = Field(default=300, gt=0)
    leave_one_source_out: bool = True
    ship_embedding_head: bool = True  # also fit and write the opt-in embedding model (embedding_head.npz)
    confidence_threshold: float = Field(default=0.5, ge=0, lt=1)
    _base_dir: Path = PrivateAttr(default=Path("."))  # the config's folder: relative paths start there

    def features(self) -> FeatureSettings:
        return FeatureSettings(**{k: getattr(self, k) for k in FeatureSettings.model_fields})


def load_classifier_config(path: str | Path) -> tuple[Any, ClassifierConfig]:
    """(RunConfig, ClassifierConfig) from a YAML whose sources all have a known category or a mapping."""
    from pydantic import ValidationError

    from emergent.config import parse_config, read_config_data
    from emergent.errors import ConfigError

    path = Path(path)
    data = read_config_data(path)
    section = data.pop("classifier", None) or {}
    try:
        settings = ClassifierConfig.model_validate(section)
    except ValidationError as err:
        problems = "; ".join(f"classifier.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path}: {problems}") from None
    cfg = parse_config(data, path)
    names = {s.name for s in cfg.sources}
    for m in settings.mapped:
        if m.source not in names:
            raise ConfigError(f"{path}: classifier.mapped: no source named {m.source!r} — use one of {sorted(names)}")
        if not (path.parent / m.mapping).is_file():
            raise ConfigError(f"{path}: classifier.mapped: mapping file {path.parent / m.mapping} not found")
    if settings.handwritten and not (path.parent / settings.handwritten).is_file():
        raise ConfigError(f"{path}: classifier.handwritten: {path.parent / settings.handwritten} not found")
    check_categories(cfg, str(path), {m.source for m in settings.mapped})
    settings._base_dir = path.parent
    return cfg, settings


def check_categories(cfg: Any, where: str, mapped: set[str] = frozenset()) -> None:
    """Every source must carry a label: its `category:`, its format's default, or a mapping."""
    from emergent.data.formats import get_format
    from emergent.errors import ConfigError

    for i, source in enumerate(cfg.sources):
        if source.name not in mapped and not (source.category or get_format(source.format).category):
            raise ConfigError(
                f"{where}: sources[{i}] ({source.name}): format {source.format!r} has no default category — set "
                "`category:` on the source, or label it per row with `classifier.mapped`"
            )


def labelled_examples(
    cfg: Any, skip: set[str] = frozenset(), show_progress: bool = False
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Every accepted conversation of the config's single-bucket sources as {text, label, source}, exact duplicates removed."""
    from emergent.data.ingest import IngestStream
    from emergent.progress import counter_progress

    sources = [s for s in cfg.sources if s.name not in skip]
    check_categories(cfg.model_copy(update={"sources": sources}), "config")
    quarantined: dict[str, int] = {}

    def sink(entry: dict[str, Any]) -> None:
        quarantined[entry["source"]] = quarantined.get(entry["source"], 0) + 1

    stream = IngestStream(sources, cfg.ingest, sink)
    seen: set[str] = set()
    examples: list[dict[str, str]] = []
    duplicates: dict[str, int] = {}
    with counter_progress(show_progress) as progress:
        for source in sources:
            task = progress.add_task(f"read {source.name}", total=None)
            for conv in stream.source_records(source, on_row=lambda t=task: progress.advance(t)):
                text = classifier_text(conv)
                if text in seen:  # the same text twice would sit on both sides of a held-out split
                    duplicates[source.name] = duplicates.get(source.name, 0) + 1
                    continue
                seen.add(text)
                examples.append({"text": text, "label": conv["_category"], "source": source.name})
    stats = {
        name: {**s.as_dict(), "duplicates": duplicates.get(name, 0), "quarantined": quarantined.get(name, 0)}
        for name, s in stream.stats.items()
    }
    return examples, stats


def training_pool(cfg: Any, settings: ClassifierConfig, show_progress: bool = False) -> tuple[list[dict], dict]:
    """The capped pool of corpus examples (whole conversation and request alone) and per-source reading stats."""
    base = settings._base_dir
    mapped_names = {m.source for m in settings.mapped}
    examples, stats = labelled_examples(cfg, skip=mapped_names, show_progress=show_progress)
    by_name = {s.name: s for s in cfg.sources}
    for m in settings.mapped:
        rows = mapped_examples(by_name[m.source], m.field, read_mapping(base / m.mapping), where=m.mapping)
        examples += rows
        stats[m.source] = {"accepted": len(rows), "mapped_by": m.field}
    return with_requests(capped(examples, settings.max_per_source, cfg.seed)), stats


class Trainer:
    """Holds the pool, the hand-written halves and the embedding cache; fits teacher and student on any subset."""

    def __init__(self, cfg: Any, settings: ClassifierConfig, show_progress: bool = False) -> None:
        self.cfg, self.settings, self.seed = cfg, settings, cfg.seed
        base = settings._base_dir
        path = base / settings.handwritten if settings.handwritten else HANDWRITTEN
        self.hand_train = read_handwritten(path, "train")
        self.hand_test = read_handwritten(path, "test")
        self.pool, self.source_stats = training_pool(cfg, settings, show_progress)
        self.encoder = Encoder(settings.embed_max_tokens, cache_dir=settings.embed_cache)
        self.static = static_vectors(settings) if settings.static_dims else None

    def vectors(self, examples: list[dict]) -> np.ndarray:
        return self.encoder.embed([e["text"] for e in examples])

    def teacher(self, pool: list[dict]) -> EmbeddingClassifier:
        """MiniLM sentence embeddings + a linear head on `pool` and the hand-written training half."""
        s = self.settings
        x = np.concatenate([self.vectors(pool), self.vectors(self.hand_train)])
        weight = np.concatenate([np.ones(len(pool)), np.full(len(self.hand_train), s.teacher_handwritten_weight)])
        labels = [e["label"] for e in pool] + [e["label"] for e in self.hand_train]
        return EmbeddingClassifier.fit(x, labels, weight, s.teacher_c, s.embed_max_tokens)

    def fit(self, pool: list[dict]) -> tuple[Classifier, EmbeddingClassifier | None]:
        """(student, teacher) fitted on `pool` plus the hand-written training half (teacher only when distilling)."""
        s = self.settings
        labels = [e["label"] for e in pool]
        teacher = None
        if s.distil:
            teacher = self.teacher(pool)
            labels = [teacher.labels[j] for j in teacher.probabilities_of(self.vectors(pool)).argmax(axis=1)]
        student = Classifier.train(
            [e["text"] for e in pool] + [e["text"] for e in self.hand_train],
            labels + [e["label"] for e in self.hand_train],
            seed=self.seed,
            settings=s.features(),
            regularization_c=s.regularization_c,
            max_iter=s.max_iter,
            static=self.static,
            sample_weight=pool_weights(labels, s.balance_buckets) + [s.handwritten_weight] * len(self.hand_train),
        )
        return student, teacher

    def source_folds(self) -> Iterator[tuple[str, list[dict], list[dict]]]:
        """(source, its pool examples, every other source's), one source at a time in name order."""
        for name in sorted({e["source"] for e in self.pool}):
            yield name, [e for e in self.pool if e["source"] == name], [e for e in self.pool if e["source"] != name]

    def leave_one_source_out(self, teacher: bool = False) -> dict[str, dict[str, Any]]:
        """Each pool source in turn: fit without it, score its examples. Per source, per bucket and macro.

        {"student": report} and, with `teacher`, {"teacher": report} for the embedding model too.
        """
        runs: dict[str, dict[str, Any]] = {"student": {"truth": [], "predicted": [], "per_source": {}}}
        if teacher:
            runs["teacher"] = {"truth": [], "predicted": [], "per_source": {}}
        for name, away, kept in self.source_folds():
            student, fitted_teacher = self.fit(kept)
            guesses = {"student": [c for c, _ in student.predict([e["text"] for e in away])]}
            if teacher:
                head = fitted_teacher or self.teacher(kept)
                guesses["teacher"] = [head.labels[j] for j in head.probabilities_of(self.vectors(away)).argmax(axis=1)]
            for run, predicted in guesses.items():
                runs[run]["truth"] += [e["label"] for e in away]
                runs[run]["predicted"] += predicted
                runs[run]["per_source"][name] = {
                    "label": away[0]["label"] if len({e["label"] for e in away}) == 1 else "mixed",
                    "examples": len(away),
                    "accuracy": sum(g == e["label"] for g, e in zip(predicted, away, strict=True)) / len(away),
                }
        out = {}
        for run, r in runs.items():
            out[run] = scores(r["truth"], r["predicted"])
            out[run]["per_source"] = r["per_source"]
        return out


def pool_weights(labels: list[str], balance: bool) -> list[float]:
    """1 per pool example, or with `balance` each bucket's examples weighted to an equal total (mean still 1)."""
    if not balance:
        return [1.0] * len(labels)
    counts = Counter(labels)
    return [len(labels) / (len(counts) * counts[label]) for label in labels]


def static_vectors(settings: ClassifierConfig) -> StaticVectors:
    """The static token table, built once and cached beside the embedding cache (it takes ~30 CPU-seconds)."""
    cache = Path(settings.embed_cache) / f"static-{settings.static_dims}.npz" if settings.embed_cache else None
    if cache and cache.is_file():
        with np.load(cache) as z:
            return StaticVectors(z["table"])
    static = StaticVectors.build(settings.static_dims)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, table=static.table)  # the norm basis is recomputed from it (deterministic SVD)
    return static


def scores(truth: list[str], predicted: list[str]) -> dict[str, Any]:
    """Accuracy, macro F1 / recall, per-bucket precision / recall / F1 and the confusion matrix (rows = true)."""

    class _Fixed:
        def predict(self, texts: list[str]) -> list[tuple[str, float]]:
            return [(p, 1.0) for p in predicted]

    report = evaluate(_Fixed(), list(range(len(truth))), truth)  # type: ignore[arg-type]
    present = [n for n in report["labels"] if report["per_class"][n]["support"]]
    for m in report["per_class"].values():
        p, r = m["precision"], m["recall"]
        m["f1"] = 2 * p * r / (p + r) if p + r else 0.0
    report["macro_f1"] = sum(report["per_class"][n]["f1"] for n in present) / len(present) if present else 0.0
    report["macro_recall"] = sum(report["per_class"][n]["recall"] for n in present) / len(present) if present else 0.0
    return report


def score_model(model: Any, examples: list[dict]) -> dict[str, Any]:
    return scores([e["label"] for e in examples], [c for c, _ in model.predict([e["text"] for e in examples])])


def train_from_config(cfg: Any, settings: ClassifierConfig, out: Path, show_progress: bool = False) -> dict[str, Any]:
    """Fit, measure and save: `out` (the fast model), `embedding_head.npz` beside it, `<out stem>.metrics.json`."""
    t0 = time.perf_counter()
    trainer = Trainer(cfg, settings, show_progress)
    report: dict[str, Any] = {"seed": cfg.seed, "settings": settings.model_dump(), "sources": trainer.source_stats}
    report["pool"] = _counts(trainer.pool)
    report["handwritten"] = {"train": len(trainer.hand_train), "test": len(trainer.hand_test)}
    student, teacher = trainer.fit(trainer.pool)
    if teacher is None and settings.ship_embedding_head:
        teacher = trainer.teacher(trainer.pool)
    report["handwritten_test"] = score_model(student, trainer.hand_test)
    if teacher is not None:
        report["handwritten_test_teacher"] = score_model(teacher, trainer.hand_test)
    if settings.leave_one_source_out:
        loso = trainer.leave_one_source_out(teacher=teacher is not None)
        report["leave_one_source_out"] = loso["student"]
        if "teacher" in loso:
            report["leave_one_source_out_teacher"] = loso["teacher"]
    report["per_source_predictions"] = per_source_predictions(student, trainer.pool, settings.confidence_threshold)
    student.info.update(
        {
            "confidence_threshold": settings.confidence_threshold,
            "handwritten_test_macro_f1": report["handwritten_test"]["macro_f1"],
            "leave_one_source_out_macro_f1": report.get("leave_one_source_out", {}).get("macro_f1"),
            "pool": {k: sum(v.values()) for k, v in report["pool"].items()},
        }
    )
    student.save(out)
    if teacher is not None:
        teacher.save(out.with_name("embedding_head.npz"))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["model"] = str(out)
    report["model_bytes"] = out.stat().st_size
    metrics_path = out.with_name(out.stem + ".metrics.json")
    metrics_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    report["metrics_file"] = str(metrics_path)
    return report


def per_source_predictions(model: Any, examples: list[dict], threshold: float) -> dict[str, Any]:
    """Per source: the predicted buckets (most first) and the share below the confidence threshold.

    Scored by the final model, which has seen these examples: it says how the model splits each
    source, not how accurate it is (leave-one-source-out says that).
    """
    out: dict[str, Any] = {}
    for name in sorted({e["source"] for e in examples}):
        mine = [e for e in examples if e["source"] == name]
        guesses = model.predict([e["text"] for e in mine])
        buckets: dict[str, int] = {}
        for c, _ in guesses:
            buckets[c] = buckets.get(c, 0) + 1
        out[name] = {
            "examples": len(mine),
            "buckets": dict(sorted(buckets.items(), key=lambda kv: -kv[1])),
            "below_threshold": sum(p < threshold for _, p in guesses) / len(mine),
        }
    return out


def _counts(examples: list[dict[str, str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for e in examples:
        per = counts.setdefault(e["label"], {})
        per[e["source"]] = per.get(e["source"], 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(counts.items())}
