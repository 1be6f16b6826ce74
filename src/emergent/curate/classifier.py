"""Behavioural category classifier: which of the ten buckets a conversation belongs to.

The default path hashes word 1-2-grams (crc32) of the user turns and of the assistant turns into
two separate feature blocks (a "def" asked for and a "def" answered are different evidence), adds
a few structure flags (tool call, tool result, system prompt) and scores them with one
multinomial logistic regression. Prediction needs only numpy: >10k conversations per CPU-second
(bench/classify.py). The model ships as a ~4 MB `.npz` under `classifier_model/`;
`emergent data train-classifier` rebuilds it from a config's sources (configs/classifier.yaml).

`specialized` is never predicted: no corpus here is labelled with it (see configs/classifier.yaml).

Texts are conversations rendered like `schema.conversation_text` ("user: ...", "assistant: ...",
"assistant call f({...})"); plain text without role prefixes is read as a user request.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MODEL = Path(__file__).parent / "classifier_model" / "classifier.npz"
FORMAT_VERSION = 4

_ROLE_LINE = re.compile(r"^(system|user|assistant|tool)(?:: | call )")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+")
_MIX = 0x01000193  # FNV prime: mixes word hashes into n-gram hashes


class FeatureSettings(BaseModel):
    """How text becomes features; stored inside the model file so prediction matches training."""

    model_config = ConfigDict(extra="forbid")

    n_features_log2: int = Field(default=17, ge=10, le=22)
    ngram_max: int = Field(default=2, ge=1, le=3)
    # Long dialogs cost time, not accuracy: the first few thousand characters say what they are.
    max_chars: int = Field(default=3000, gt=0)


class ClassifierConfig(FeatureSettings):
    """The `classifier:` section of configs/classifier.yaml (defaults live there)."""

    # Only "hashing" so far; bench/classify.py measures MiniLM embeddings as the alternative.
    method: str = Field(default="hashing", pattern="^(hashing)$")
    max_per_class: int = Field(default=2500, gt=0)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    # One source per multi-source bucket, kept out of training to measure cross-source accuracy.
    holdout_sources: list[str] = Field(default_factory=list)
    regularization_c: float = Field(default=4.0, gt=0)
    max_iter: int = Field(default=300, gt=0)
    # Also train on each example's user turns alone, so a bare request ("I feel hopeless and
    # alone") is judged by its wording rather than by how short it is.
    request_copies: bool = True

    def features(self) -> FeatureSettings:
        return FeatureSettings(**{k: getattr(self, k) for k in FeatureSettings.model_fields})


# Structure, not wording: a separate unnormalised block so one tool call in a long dialog still counts.
# The number of turns is deliberately not a feature: in the labelled corpora it identifies the
# corpus (multi-turn = ESConv / Topical-Chat / SGD), and measured cross-source it traded one
# held-out source for another (bench/RESULTS-classifier.md).
STRUCTURE: tuple[str, ...] = ("tool_call", "tool_result", "system_prompt")


def split_roles(text: str, max_chars: int = 3000) -> tuple[str, str, list[str]]:
    """(user side, assistant side, structure flags) of a rendered conversation.

    Tool calls and tool results stay on the assistant side as words (the function name and
    argument names are evidence too); the flags come from `STRUCTURE`.
    """
    user: list[str] = []
    answer: list[str] = []
    flags: set[str] = set()
    side = user
    for line in text.splitlines():
        m = _ROLE_LINE.match(line)
        if not m:
            side.append(line)
            continue
        role, rest = m.group(1), line[m.end() :]
        if m.group(0).endswith(" call "):
            flags.add("tool_call")
            side = answer
            name, _, args = rest.partition("(")
            side.append(f"{name} {args}")
            continue
        if role == "user":
            side = user
        elif role == "tool":
            flags.add("tool_result")
            side = answer
        else:
            if role == "system":
                flags.add("system_prompt")
            side = answer  # a system prompt describes the answer's style
        side.append(rest)
    return "\n".join(user)[:max_chars], "\n".join(answer)[:max_chars], sorted(flags & set(STRUCTURE))


def _preprocess(text: str) -> str:
    # Numbers are evidence as a kind (word problems, code), not as values: 48 and 24 look alike.
    return _DIGITS.sub("0", text.lower())


def _word_hashes(text: str) -> list[int]:
    """crc32 of every word; one-letter words are kept ("I feel" is evidence)."""
    return list(map(zlib.crc32, map(str.encode, _WORD.findall(_preprocess(text)))))


def _ngram_hashes(words: np.ndarray, segment: np.ndarray, ngram_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Word hashes plus 2..n-gram hashes combined from them, never across a segment boundary."""
    hashes, segments = [words], [segment]
    for n in range(2, ngram_max + 1):
        count = len(words) - n + 1
        if count <= 0:
            break
        # Combining word hashes in numpy avoids building every n-gram string in Python (3x faster).
        g = words[:count].copy()
        for j in range(1, n):
            g = (g * _MIX + words[j : j + count]) & 0xFFFFFFFF
        same = segment[:count] == segment[n - 1 : n - 1 + count]
        hashes.append(g[same])
        segments.append(segment[:count][same])
    return np.concatenate(hashes), np.concatenate(segments)


class Featurizer:
    """Hashed, l2-normalised word n-gram counts of the user side | the assistant side | structure flags.

    Hashing is crc32 in numpy, not sklearn's HashingVectorizer: importing sklearn alone takes
    ~1-2 s, and `load_default_classifier` must be ready in under one.
    """

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings
        self.side_size = 2**settings.n_features_log2

    @property
    def n_features(self) -> int:
        return 2 * self.side_size + len(STRUCTURE)

    def coordinates(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every non-zero feature, sorted by row."""
        words: list[int] = []
        sizes: list[int] = []
        flag_rows: list[int] = []
        flag_cols: list[int] = []
        column = {name: 2 * self.side_size + i for i, name in enumerate(STRUCTURE)}
        for i, text in enumerate(texts):
            user, answer, flags = split_roles(text, self.settings.max_chars)
            for side in (user, answer):
                h = _word_hashes(side)
                words += h
                sizes.append(len(h))
            flag_rows += [i] * len(flags)
            flag_cols += [column[f] for f in flags]
        segment = np.repeat(np.arange(2 * len(texts), dtype=np.int64), sizes)  # row * 2 + side
        hashes, segment = _ngram_hashes(np.asarray(words, dtype=np.int64), segment, self.settings.ngram_max)
        cols = (hashes & (self.side_size - 1)) + (segment & 1) * self.side_size
        keys, counts = np.unique((segment >> 1) * self.n_features + cols, return_counts=True)
        rows, cols = np.divmod(keys, self.n_features)
        counts = counts.astype(np.float32)
        side_of = rows * 2 + (cols >= self.side_size)
        norms = np.sqrt(np.bincount(side_of, weights=counts**2, minlength=2 * len(texts))).astype(np.float32)
        values = counts / norms[side_of]
        rows = np.concatenate([rows, np.asarray(flag_rows, dtype=np.int64)])
        cols = np.concatenate([cols, np.asarray(flag_cols, dtype=np.int64)])
        values = np.concatenate([values, np.ones(len(flag_rows), dtype=np.float32)])
        order = np.argsort(rows, kind="stable")
        return rows[order], cols[order], values[order]

    def transform(self, texts: Sequence[str]) -> Any:
        """Sparse CSR matrix (len(texts), n_features), for training."""
        import scipy.sparse as sp

        rows, cols, values = self.coordinates(texts)
        return sp.csr_matrix((values, (rows, cols)), shape=(len(texts), self.n_features))

    def scores(self, texts: Sequence[str], weights: np.ndarray) -> np.ndarray:
        """features @ weights without building a sparse matrix (no scipy import at prediction time)."""
        rows, cols, values = self.coordinates(texts)
        contributions = weights[cols] * values[:, None]
        out = np.empty((len(texts), weights.shape[1]), dtype=np.float32)
        for j in range(weights.shape[1]):
            out[:, j] = np.bincount(rows, weights=contributions[:, j], minlength=len(texts))
        return out


class Classifier:
    """A linear model over hashed n-grams: `predict(texts) -> [(category, confidence)]`."""

    def __init__(
        self,
        labels: list[str],
        weights: np.ndarray,
        bias: np.ndarray,
        settings: FeatureSettings,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.labels = list(labels)
        self.weights = weights.astype(np.float32)  # (n_features, n_labels)
        self.bias = bias.astype(np.float32)
        self.settings = settings
        self.info = info or {}
        self.featurizer = Featurizer(settings)
        if self.weights.shape != (self.featurizer.n_features, len(self.labels)):
            raise ValueError(
                f"weights shape {self.weights.shape} does not match settings {settings} and {len(labels)} labels"
            )

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        seed: int = 0,
        settings: FeatureSettings | None = None,
        regularization_c: float = 4.0,
        max_iter: int = 300,
    ) -> Classifier:
        """Fit on labelled texts; deterministic for a given seed. Classes are weighted to balance."""
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"need at least two categories to train, got {classes}")
        settings = settings or FeatureSettings()
        X = Featurizer(settings).transform(texts)
        model = LogisticRegression(C=regularization_c, max_iter=max_iter, class_weight="balanced", random_state=seed)
        model.fit(X, list(labels))
        return cls(
            list(model.classes_),
            model.coef_.T,
            model.intercept_,
            settings,
            {"seed": seed, "train_examples": len(texts)},
        )

    def probabilities(self, texts: Sequence[str], batch_size: int = 4096) -> np.ndarray:
        """(len(texts), n_labels) softmax probabilities, computed in batches."""
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            scores = self.featurizer.scores(texts[start : start + batch_size], self.weights) + self.bias
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            out[start : start + len(scores)] = scores / scores.sum(axis=1, keepdims=True)
        return out

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(category, confidence in [0, 1]) for each text, in order."""
        probs = self.probabilities(texts)
        best = probs.argmax(axis=1)
        return [(self.labels[j], float(probs[i, j])) for i, j in enumerate(best)]

    def top(self, texts: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
        """The k most likely categories per text, best first."""
        probs = self.probabilities(texts)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [[(self.labels[j], float(probs[i, j])) for j in row] for i, row in enumerate(order)]

    def save(self, path: str | Path) -> Path:
        """Write a compressed .npz holding only the weights of features seen in training."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        used = np.flatnonzero(np.abs(self.weights).sum(axis=1) > 0).astype(np.int32)
        meta = {
            "format_version": FORMAT_VERSION,
            "labels": self.labels,
            "settings": self.settings.model_dump(),
            "structure": list(STRUCTURE),
            "info": self.info,
        }
        with open(path, "wb") as fh:  # a file handle: np.savez would otherwise append ".npz" to other names
            np.savez_compressed(
                fh,
                rows=used,
                # float16 halves the file; the largest prediction change it causes is ~1e-3 in probability.
                values=self.weights[used].astype(np.float16),
                bias=self.bias,
                meta=np.array(json.dumps(meta)),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        """Read a model written by `save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: classifier model not found — train one with `emergent data train-classifier CONFIG -o {path}`"
            )
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format_version") != FORMAT_VERSION or meta.get("structure") != list(STRUCTURE):
                raise ValueError(
                    f"{path}: classifier format {meta.get('format_version')} is not {FORMAT_VERSION} — retrain it"
                )
            settings = FeatureSettings(**meta["settings"])
            weights = np.zeros(
                (2 * 2**settings.n_features_log2 + len(STRUCTURE), len(meta["labels"])), dtype=np.float32
            )
            weights[z["rows"]] = z["values"]
            return cls(meta["labels"], weights, z["bias"], settings, meta.get("info"))


@lru_cache(maxsize=1)
def load_default_classifier() -> Classifier:
    """The model shipped with the package (trained by configs/classifier.yaml)."""
    return Classifier.load(DEFAULT_MODEL)


def evaluate(clf: Classifier, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/support and the confusion matrix (rows = true)."""
    predicted = [c for c, _ in clf.predict(texts)] if texts else []
    names = sorted(set(labels) | set(predicted))
    index = {n: i for i, n in enumerate(names)}
    confusion = np.zeros((len(names), len(names)), dtype=int)
    for t, p in zip(labels, predicted, strict=True):
        confusion[index[t], index[p]] += 1
    per_class = {}
    for n, i in index.items():
        tp = int(confusion[i, i])
        predicted_n, support = int(confusion[:, i].sum()), int(confusion[i].sum())
        per_class[n] = {
            "precision": tp / predicted_n if predicted_n else 0.0,
            "recall": tp / support if support else 0.0,
            "support": support,
        }
    correct = int(np.trace(confusion))
    return {
        "examples": len(labels),
        "accuracy": correct / len(labels) if labels else 0.0,
        "per_class": per_class,
        "labels": names,
        "confusion": confusion.tolist(),
    }


# ---------------------------------------------------------------------------------------------
# Training from a config's labelled sources (`emergent data train-classifier`).


def load_classifier_config(path: str | Path) -> tuple[Any, ClassifierConfig]:
    """(RunConfig, ClassifierConfig) from a YAML whose sources all have a known category."""
    from pydantic import ValidationError

    from emergent.config import parse_config, read_config_data
    from emergent.errors import ConfigError

    path = Path(path)
    data = read_config_data(path)  # the run config's own reading: file checks, YAML errors, `extends:`
    # `classifier:` is this command's own section; the rest is an ordinary run config.
    section = data.pop("classifier", None) or {}
    try:
        settings = ClassifierConfig.model_validate(section)
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise ConfigError(f"{path}: classifier.{where}: {e['msg']}") from None
    cfg = parse_config(data, path)
    names = {s.name for s in cfg.sources}
    for name in settings.holdout_sources:
        if name not in names:
            raise ConfigError(
                f"{path}: classifier.holdout_sources: no source named {name!r} — use one of {sorted(names)}"
            )
    check_categories(cfg, where=str(path))
    return cfg, settings


def check_categories(cfg: Any, where: str) -> None:
    """Every source must carry a label: its `category:` or its format's default category."""
    from emergent.data.formats import get_format
    from emergent.errors import ConfigError

    for i, source in enumerate(cfg.sources):
        if not (source.category or get_format(source.format).category):
            raise ConfigError(
                f"{where}: sources[{i}] ({source.name}): format {source.format!r} has no default category — set "
                "`category:` on the source (the classifier learns from single-category sources only)"
            )


def labelled_examples(cfg: Any, show_progress: bool = False) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Every accepted conversation of the config's sources as {text, label, source}, exact duplicates removed.

    The label is the source's `category:` (or its format's default); a source with neither is an error.
    """
    from emergent.data.ingest import IngestStream
    from emergent.progress import counter_progress
    from emergent.schema import conversation_text

    check_categories(cfg, where="config")
    quarantined: dict[str, int] = {}

    def sink(entry: dict[str, Any]) -> None:
        quarantined[entry["source"]] = quarantined.get(entry["source"], 0) + 1

    stream = IngestStream(cfg.sources, cfg.ingest, sink)
    seen: set[str] = set()
    examples: list[dict[str, str]] = []
    duplicates: dict[str, int] = {}
    with counter_progress(show_progress) as progress:
        for source in cfg.sources:
            task = progress.add_task(f"read {source.name}", total=None)
            for conv in stream.source_records(source, on_row=lambda t=task: progress.advance(t)):
                text = conversation_text(conv)
                if text in seen:  # the same text twice would sit on both sides of the held-out split
                    duplicates[source.name] = duplicates.get(source.name, 0) + 1
                    continue
                seen.add(text)
                examples.append({"text": text, "label": conv["_category"], "source": source.name})
    stats = {
        name: {**s.as_dict(), "duplicates": duplicates.get(name, 0), "quarantined": quarantined.get(name, 0)}
        for name, s in stream.stats.items()
    }
    return examples, stats


def balanced_sample(examples: list[dict[str, str]], max_per_class: int, seed: int) -> list[dict[str, str]]:
    """At most `max_per_class` per category, shared as evenly as possible between its sources.

    Capping per source keeps one big corpus (ethics: 70k rows) from defining its bucket alone,
    which is how a classifier ends up learning a corpus's artefacts instead of the behaviour.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, dict[str, list[dict[str, str]]]] = {}
    for ex in examples:
        by_class.setdefault(ex["label"], {}).setdefault(ex["source"], []).append(ex)
    chosen: list[dict[str, str]] = []
    for label in sorted(by_class):
        sources = by_class[label]
        budget = max_per_class
        # Smallest sources first: what they cannot fill goes to the bigger ones.
        order = sorted(sources, key=lambda s: (len(sources[s]), s))
        for k, name in enumerate(order):
            quota = budget // (len(order) - k)
            pool = sources[name]
            take = min(quota, len(pool))
            picks = rng.permutation(len(pool))[:take]
            chosen.extend(pool[i] for i in sorted(picks))
            budget -= take
    return chosen


def stratified_split(examples: list[dict[str, str]], fraction: float, seed: int) -> tuple[list, list]:
    """(train, held_out) with `fraction` of every category held out."""
    rng = np.random.default_rng(seed)
    train: list[dict[str, str]] = []
    held: list[dict[str, str]] = []
    by_class: dict[str, list[dict[str, str]]] = {}
    for ex in examples:
        by_class.setdefault(ex["label"], []).append(ex)
    for label in sorted(by_class):
        pool = by_class[label]
        order = rng.permutation(len(pool))
        n_held = max(1, round(len(pool) * fraction))
        held.extend(pool[i] for i in order[:n_held])
        train.extend(pool[i] for i in order[n_held:])
    return train, held


def request_only(text: str) -> str:
    """The user turns of a rendered conversation, rendered the same way."""
    return "user: " + split_roles(text, max_chars=10**9)[0]


def _fit(examples: list[dict[str, str]], settings: ClassifierConfig, seed: int) -> Classifier:
    texts = [e["text"] for e in examples]
    labels = [e["label"] for e in examples]
    if settings.request_copies:
        texts += [request_only(t) for t in texts]
        labels += labels
    return Classifier.train(
        texts,
        labels,
        seed=seed,
        settings=settings.features(),
        regularization_c=settings.regularization_c,
        max_iter=settings.max_iter,
    )


def train_from_config(cfg: Any, settings: ClassifierConfig, out: Path, show_progress: bool = False) -> dict[str, Any]:
    """Train, measure (random held-out split and held-out sources) and save the final model to `out`.

    Three fits: (1) on the training split, scored on the held-out split; (2) without
    `holdout_sources`, scored on those sources (the honest, cross-source figure); (3) on the whole
    balanced sample — the model that is saved. Writes `out` and `<out stem>.metrics.json`.
    """
    import time

    t0 = time.perf_counter()
    seed = cfg.seed
    examples, source_stats = labelled_examples(cfg, show_progress)
    sample = balanced_sample(examples, settings.max_per_class, seed)
    train, held = stratified_split(sample, settings.holdout_fraction, seed)
    report: dict[str, Any] = {"seed": seed, "settings": settings.model_dump(), "sources": source_stats}
    report["sample"] = _counts(sample)
    report["holdout"] = evaluate(_fit(train, settings, seed), [e["text"] for e in held], [e["label"] for e in held])
    report["holdout"]["train_examples"] = len(train)

    if settings.holdout_sources:
        kept = [e for e in examples if e["source"] not in settings.holdout_sources]
        clf = _fit(balanced_sample(kept, settings.max_per_class, seed), settings, seed)
        # Score held sources on at most max_per_class examples each, sampled like training data.
        away = balanced_sample(
            [e for e in examples if e["source"] in settings.holdout_sources], settings.max_per_class, seed
        )
        report["cross_source"] = evaluate(clf, [e["text"] for e in away], [e["label"] for e in away])
        report["cross_source"]["per_source"] = _per_source(clf, away)
        # The mean over held-out sources: a big held-out source cannot hide a failing small one.
        per = report["cross_source"]["per_source"].values()
        report["cross_source"]["mean_source_accuracy"] = sum(s["accuracy"] for s in per) / len(per)
        report["cross_source"]["train_labels"] = sorted({e["label"] for e in kept})

    final = _fit(sample, settings, seed)
    final.info.update(
        {
            "holdout_accuracy": report["holdout"]["accuracy"],
            "cross_source_accuracy": report.get("cross_source", {}).get("accuracy"),
            "cross_source_mean_source_accuracy": report.get("cross_source", {}).get("mean_source_accuracy"),
            "sample": report["sample"],
        }
    )
    final.save(out)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["model"] = str(out)
    report["model_bytes"] = out.stat().st_size
    metrics_path = out.with_name(out.stem + ".metrics.json")
    metrics_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    report["metrics_file"] = str(metrics_path)
    return report


def _counts(examples: list[dict[str, str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for e in examples:
        per = counts.setdefault(e["label"], {})
        per[e["source"]] = per.get(e["source"], 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(counts.items())}


def _per_source(clf: Classifier, examples: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in sorted({e["source"] for e in examples}):
        mine = [e for e in examples if e["source"] == name]
        predicted = [c for c, _ in clf.predict([e["text"] for e in mine])]
        wrong: dict[str, int] = {}
        for p in predicted:
            if p != mine[0]["label"]:
                wrong[p] = wrong.get(p, 0) + 1
        out[name] = {
            "label": mine[0]["label"],
            "examples": len(mine),
            "accuracy": sum(p == mine[0]["label"] for p in predicted) / len(mine),
            "predicted_instead": dict(sorted(wrong.items(), key=lambda kv: -kv[1])),
        }
    return out
