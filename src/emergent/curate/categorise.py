"""Categorisation: the source's bucket when it has one, else the shipped per-example classifier."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from emergent.curate.steps import Dropped, Step, batched
from emergent.schema import Conversation, conversation_text, normalize_category

# The classifier sees at most this many characters; the opening of a conversation carries its kind.
MAX_CLASSIFIER_CHARS = 2000


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
    from emergent.data.formats import get_format

    return any(not (s.category or get_format(s.format).category) for s in sources)


class Categorise(Step):
    """Sets `_category` on every record: kept when the source gave one, predicted otherwise.

    Notes `classified` (and `fallback` when no classifier exists) so the manifest says how many
    categories are model guesses.
    """

    name = "categorise"

    def __init__(self, classifier: Classifier | None, fallback: str, batch_size: int = 1024) -> None:
        self.classifier = classifier
        self.fallback = fallback
        self.batch_size = batch_size

    def run(self, stream: Iterable[Conversation], dropped: Dropped) -> Iterator[Conversation]:
        for batch in batched(stream, self.batch_size):
            todo = [c for c in batch if not c.get("_category")]
            if todo:
                if self.classifier is None:
                    for c in todo:
                        c["_category"] = self.fallback
                    dropped.notes["category_fallback"] += len(todo)
                else:
                    texts = [conversation_text(c)[:MAX_CLASSIFIER_CHARS] for c in todo]
                    for c, (category, _confidence) in zip(todo, self.classifier.predict(texts), strict=True):
                        c["_category"] = normalize_category(category)
                    dropped.notes["category_classified"] += len(todo)
            yield from batch
