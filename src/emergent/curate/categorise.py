"""Categorisation: the source's bucket when it has one, else the shipped per-example classifier.

A prediction below the classifier's confidence threshold (chosen when it was trained, stored in
the model) is not trusted: the record goes to the fallback bucket and is counted as such. The
counts land in the manifest's notes, per source, so the report can say how much of a bucket is a
guess:
  category_classified                      records the classifier decided
  category_predicted/<source>/<bucket>     what it decided, per source
  category_low_confidence/<source>         of those, below the threshold (sent to the fallback)
  category_fallback                        records with no classifier at all
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Protocol

from emergent.curate.steps import Dropped, Step, batched
from emergent.schema import Conversation, normalize_category

# The classifier sees at most this many characters; the opening of a conversation carries its kind.
MAX_CLASSIFIER_CHARS = 2000
PREDICTED = "category_predicted/"
LOW_CONFIDENCE = "category_low_confidence/"


class Classifier(Protocol):
    def predict(self, texts: list[str]) -> list[tuple[str, float]]: ...


def load_classifier() -> tuple[Classifier | None, str | None]:
    """(the shipped classifier, None) or (None, why it is unavailable) — the build then warns."""
    try:
        from emergent.curate.classifier import load_default_classifier
    except ImportError as err:
        return None, f"emergent.curate.classifier is not installed ({err})"
    try:
        return load_default_classifier(), None
    except (FileNotFoundError, ValueError) as err:  # not trained yet, or trained by an older version
        return None, str(err)


def needs_classifier(sources: list) -> bool:
    """True when some source has no default category (neither in its config nor in its format)."""
    return bool(predicted_sources(sources))


def predicted_sources(sources: list) -> list[int]:
    """Indices of the sources whose categories are predicted (no config or format category).

    For the composition table's config-vs-predicted split:
    `composition(after, ..., predicted=Counter(buckets of kept rows whose source is in this list))`.
    """
    from emergent.data.formats import get_format

    return [i for i, s in enumerate(sources) if not (s.category or get_format(s.format).category)]


class Categorise(Step):
    """Sets `_category` on every record: kept when the source gave one, predicted otherwise.

    `threshold` defaults to the one stored in the classifier (`info["confidence_threshold"]`).
    """

    name = "categorise"

    def __init__(
        self, classifier: Classifier | None, fallback: str, batch_size: int = 1024, threshold: float | None = None
    ) -> None:
        self.classifier = classifier
        self.fallback = normalize_category(fallback)
        self.batch_size = batch_size
        if threshold is None:
            threshold = float((getattr(classifier, "info", None) or {}).get("confidence_threshold") or 0.0)
        self.threshold = threshold

    def run(self, stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
        from emergent.curate.classifier_data import classifier_text

        for batch in batched(stream, self.batch_size):
            todo = [c for c in batch if not c.get("_category")]
            if todo:
                if self.classifier is None:
                    for c in todo:
                        c["_category"] = self.fallback
                    dropped.notes["category_fallback"] += len(todo)
                else:
                    texts = [classifier_text(c)[:MAX_CLASSIFIER_CHARS] for c in todo]
                    for c, (category, confidence) in zip(todo, self.classifier.predict(texts), strict=True):
                        category = normalize_category(category)
                        dropped.notes[f"{PREDICTED}{c.get('_source')}/{category}"] += 1
                        if confidence < self.threshold:
                            dropped.notes[f"{LOW_CONFIDENCE}{c.get('_source')}"] += 1
                            category = self.fallback
                        c["_category"] = category
                    dropped.notes["category_classified"] += len(todo)
            yield from batch


def prediction_summary(notes: dict[str, int]) -> dict[str, dict]:
    """Per source, from a manifest's notes: predicted count, bucket distribution, share below the threshold."""
    out: dict[str, dict] = {}
    for key, n in notes.items():
        if key.startswith(PREDICTED):
            source, bucket = key[len(PREDICTED) :].rsplit("/", 1)
            entry = out.setdefault(source, {"predicted": 0, "buckets": Counter(), "low_confidence": 0})
            entry["predicted"] += n
            entry["buckets"][bucket] += n
        elif key.startswith(LOW_CONFIDENCE):
            source = key[len(LOW_CONFIDENCE) :]
            out.setdefault(source, {"predicted": 0, "buckets": Counter(), "low_confidence": 0})["low_confidence"] += n
    for entry in out.values():
        entry["buckets"] = dict(entry["buckets"].most_common())
        entry["low_confidence_share"] = entry["low_confidence"] / entry["predicted"] if entry["predicted"] else 0.0
    return dict(sorted(out.items()))
