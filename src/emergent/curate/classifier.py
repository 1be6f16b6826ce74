"""Behavioural category classifier: which of the ten buckets a conversation belongs to.

Features: the mean of MiniLM's static word-piece vectors (classifier_static: what the text is
about, carried over to words never seen in training), a bag of the same word pieces scaled the same
way (what exact pieces say beyond their vectors: "poem", "refactor"; it folds into the projected
table, so it costs nothing at prediction), optionally the same two blocks again over the request's
head (the opening characters of the user side: the instruction line before any pasted input),
optionally hashed word 1-2-grams (crc32) of the user
turns and of the assistant turns, and a few structure flags (tools offered, tool call, tool result,
system prompt); one multinomial logistic regression scores them. Prediction needs
the tokenizer and numpy only (thousands of conversations per CPU-second, bench/classify.py).
`emergent data train-classifier configs/classifier.yaml` rebuilds the shipped model from labels
that belong to examples (classifier_train); the opt-in MiniLM sentence model is classifier_embed.

Texts are conversations rendered by `classifier_data.classifier_text` ("tools: ...",
"user: ...", "assistant: ...", "assistant call f({...})"); plain text without role prefixes is
read as a user request.
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

from emergent.curate.classifier_static import StaticVectors

DEFAULT_MODEL = Path(__file__).parent / "classifier_model" / "classifier.npz"
FORMAT_VERSION = 7
# Files this code reads: version 6 is version 7 without the request-head block (its settings lack
# `request_head_chars`, which then defaults to off), so the shipped version-6 model still loads.
READABLE_VERSIONS = (6, FORMAT_VERSION)

_ROLE_LINE = re.compile(r"^(system|user|assistant|tool|tools)(?:: | call )")
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
    # Dimensions of the static MiniLM token-vector block (classifier_static); 0: hashed n-grams only.
    static_dims: int = Field(default=0, ge=0, le=384)
    # Off: only the structure flags and the static block. On the hand-written requests hashed
    # n-grams overfit the training wording (2-fold: static alone 0.785 macro F1, with n-grams 0.680).
    hashed_ngrams: bool = True
    # The static block reads the first this-many characters: tokenising is its main cost, and the
    # opening says what a conversation is.
    static_chars: int = Field(default=600, gt=0)
    # Weight of the word-piece bag block (one column per piece of the static table, each text's piece
    # counts over its length and over the static block's length norm); 0: off. Needs static_dims.
    # 2-fold on the hand-written train half: off 0.781, 2 -> 0.792, 3 -> 0.804, 5 -> 0.798, 10 -> 0.772.
    piece_bag: float = Field(default=0.0, ge=0)
    request_head_chars: int = Field(
        default=0,
        ge=0,
        description=(
            "Request-head block: the static mean (and piece bag, when on) again, over only the first this-many "
            "characters of the user side, so the instruction line counts apart from any pasted input "
            "(leave-one-source-out measured +0.02 macro F1 with 150-300 characters; twice the weight was worse). "
            "0: off. Needs static_dims; stored in the model file, so prediction reads the same head."
        ),
    )


# Structure, not wording: a separate unnormalised block so one tool call in a long dialog still counts.
# The number of turns is deliberately not a feature: in the labelled corpora it identifies the
# corpus (multi-turn = ESConv / Topical-Chat / SGD), and measured cross-source it traded one
# held-out source for another (bench/RESULTS.md, "Cross-source check").
STRUCTURE: tuple[str, ...] = ("tool_call", "tool_result", "system_prompt", "tools_given")


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
        if role == "tools":  # classifier_data.classifier_text's line naming the tools offered
            flags.add("tools_given")
            answer.append(rest)
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
    """Hashed, l2-normalised word n-gram counts of the user side | the assistant side | structure flags
    | the static piece-vector block (classifier_static) | its piece bag | both again over the request's
    head, each block optional but the flags.

    Hashing is crc32 in numpy, not sklearn's HashingVectorizer: importing sklearn alone takes
    ~1-2 s, and `load_default_classifier` must be ready in under one.
    """

    def __init__(self, settings: FeatureSettings, static: StaticVectors | None = None) -> None:
        self.settings = settings
        self.side_size = 2**settings.n_features_log2
        if (static.dims if static else 0) != settings.static_dims:
            raise ValueError(
                f"static vectors of {static.dims if static else 0} dims for settings.static_dims={settings.static_dims}"
            )
        if settings.piece_bag and not settings.static_dims:
            raise ValueError(
                "settings.piece_bag needs the static block (static_dims > 0): it uses its tokenizer and norm"
            )
        if settings.request_head_chars and not settings.static_dims:
            raise ValueError("settings.request_head_chars needs the static block (static_dims > 0)")
        self.static = static
        self.n_bag = static.table.shape[0] if static is not None and settings.piece_bag else 0
        # The head block repeats the static mean and the bag, with weights of its own.
        self.n_head = settings.static_dims + self.n_bag if settings.request_head_chars else 0

    @property
    def n_sparse(self) -> int:
        """Hashed n-grams of both sides plus the structure flags."""
        return 2 * self.side_size + len(STRUCTURE)

    @property
    def n_features(self) -> int:
        return self.n_sparse + self.settings.static_dims + self.n_bag + self.n_head

    def openings(self, texts: Sequence[str]) -> list[str]:
        """What the static block reads: each text's first static_chars characters."""
        return [t[: self.settings.static_chars] for t in texts]

    def heads(self, texts: Sequence[str]) -> list[str]:
        """What the head block reads: the first request_head_chars characters of each text's user side.

        In the pooled corpora a request is often an instruction followed by pasted input (an email to
        rewrite, a passage to summarise); the whole-text mean is dominated by the input, the head is not.
        """
        n = self.settings.request_head_chars
        return [split_roles(t, self.settings.max_chars)[0].lstrip()[:n] for t in texts]

    def dense(self, texts: Sequence[str]) -> np.ndarray:
        """The static-vector block (len(texts), static_dims) of texts already cut to what it reads."""
        assert self.static is not None
        return self.static.embed(texts)

    def bag(self, texts: Sequence[str]) -> Any:
        """The word-piece bag block: sparse (len(texts), vocabulary), piece counts / (pieces * length norm) * piece_bag.

        Scaled exactly like the static block's mean, so its weights add to the projected table at prediction.
        Texts are already cut to what the block reads.
        """
        import scipy.sparse as sp

        assert self.static is not None
        flat, lengths = self.static.token_ids(texts)
        norm = self.static.length(flat, lengths) * np.maximum(lengths, 1)
        rows = np.repeat(np.arange(len(texts)), lengths)
        values = (self.settings.piece_bag / norm[rows]).astype(np.float32)
        return sp.csr_matrix((values, (rows, flat)), shape=(len(texts), self.n_bag))

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
                h = _word_hashes(side) if self.settings.hashed_ngrams else []
                words += h
                sizes.append(len(h))
            flag_rows += [i] * len(flags)
            flag_cols += [column[f] for f in flags]
        segment = np.repeat(np.arange(2 * len(texts), dtype=np.int64), sizes)  # row * 2 + side
        hashes, segment = _ngram_hashes(np.asarray(words, dtype=np.int64), segment, self.settings.ngram_max)
        cols = (hashes & (self.side_size - 1)) + (segment & 1) * self.side_size
        keys, counts = np.unique((segment >> 1) * self.n_sparse + cols, return_counts=True)
        rows, cols = np.divmod(keys, self.n_sparse)
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
        hashed = sp.csr_matrix((values, (rows, cols)), shape=(len(texts), self.n_sparse))
        if not self.settings.static_dims:
            return hashed
        blocks = [hashed]
        for cut in [self.openings(texts)] + ([self.heads(texts)] if self.n_head else []):
            blocks += [sp.csr_matrix(self.dense(cut))] + ([self.bag(cut)] if self.n_bag else [])
        return sp.hstack(blocks, format="csr")

    def _project(self, weights: np.ndarray, start: int) -> np.ndarray:
        """(vocabulary, labels): one piece's score in the static block (and bag) whose weights begin at `start`."""
        assert self.static is not None
        end = start + self.settings.static_dims
        projected = self.static.table @ weights[start:end]
        if self.n_bag:  # the bag is a per-piece score with the same scaling: it adds in
            projected = projected + self.settings.piece_bag * weights[end : end + self.n_bag]
        return projected

    def scores(self, texts: Sequence[str], weights: np.ndarray) -> np.ndarray:
        """features @ weights without building a sparse matrix (no scipy import at prediction time)."""
        rows, cols, values = self.coordinates(texts)
        contributions = weights[cols] * values[:, None]
        out = np.empty((len(texts), weights.shape[1]), dtype=np.float32)
        for j in range(weights.shape[1]):
            out[:, j] = np.bincount(rows, weights=contributions[:, j], minlength=len(texts))
        if self.settings.static_dims:
            assert self.static is not None
            key = id(weights)
            if getattr(self, "_projected_for", None) != key:  # once per model: (vocabulary, labels) per block
                width = self.settings.static_dims + self.n_bag
                starts = [self.n_sparse] + ([self.n_sparse + width] if self.n_head else [])
                self._projected = [self._project(weights, start) for start in starts]
                self._projected_for = key
            cuts = [self.openings(texts)] + ([self.heads(texts)] if self.n_head else [])
            for projected, cut in zip(self._projected, cuts, strict=True):
                ids = self.static.token_ids(cut)
                out += self.static.mean(projected, *ids) / self.static.length(*ids)[:, None]
        return out


class Ranked:
    """predict / top for a model with `labels` and `probabilities(texts)` (both classifiers)."""

    labels: list[str]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(category, confidence in [0, 1]) for each text, in order."""
        return [row[0] for row in self.top(texts, 1)]

    def top(self, texts: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
        """The k most likely categories per text, best first."""
        probs = self.probabilities(texts)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [[(self.labels[j], float(probs[i, j])) for j in row] for i, row in enumerate(order)]


class Classifier(Ranked):
    """A linear model over hashed n-grams: `predict(texts) -> [(category, confidence)]`."""

    def __init__(
        self,
        labels: list[str],
        weights: np.ndarray,
        bias: np.ndarray,
        settings: FeatureSettings,
        info: dict[str, Any] | None = None,
        static: StaticVectors | None = None,
    ) -> None:
        self.labels = list(labels)
        self.weights = weights.astype(np.float32)  # (n_features, n_labels)
        self.bias = bias.astype(np.float32)
        self.settings = settings
        self.info = info or {}
        self.featurizer = Featurizer(settings, static)
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
        static: StaticVectors | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> Classifier:
        """Fit on labelled texts; deterministic for a given seed. Classes are weighted to balance."""
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"need at least two categories to train, got {classes}")
        settings = settings or FeatureSettings()
        X = Featurizer(settings, static).transform(texts)
        model = LogisticRegression(C=regularization_c, max_iter=max_iter, class_weight="balanced", random_state=seed)
        model.fit(X, list(labels), sample_weight=None if sample_weight is None else np.asarray(sample_weight))
        return cls(
            list(model.classes_),
            model.coef_.T,
            model.intercept_,
            settings,
            {"seed": seed, "train_examples": len(texts)},
            static,
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
                **(self.featurizer.static.arrays() if self.featurizer.static else {}),
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
            if meta.get("format_version") not in READABLE_VERSIONS or meta.get("structure") != list(STRUCTURE):
                raise ValueError(
                    f"{path}: classifier format {meta.get('format_version')} is not {FORMAT_VERSION} — retrain it"
                )
            settings = FeatureSettings(**meta["settings"])
            static = (
                StaticVectors.from_arrays(z["static_q"], z["static_scale"], z["static_norm_basis"])
                if settings.static_dims
                else None
            )
            size = Featurizer(settings, static).n_features
            weights = np.zeros((size, len(meta["labels"])), dtype=np.float32)
            weights[z["rows"]] = z["values"]
            return cls(meta["labels"], weights, z["bias"], settings, meta.get("info"), static)


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
