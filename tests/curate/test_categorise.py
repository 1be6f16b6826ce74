from curate_helpers import conv

from emergent.curate.categorise import Categorise
from emergent.curate.steps import Dropped


class KeywordClassifier:
    """An in-memory stand-in for the shipped classifier (which has its own tests)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        self.seen += texts
        return [("code_technical" if "python" in t.lower() else "empathetic", 0.9) for t in texts]


def test_source_category_is_kept_and_the_rest_is_classified():
    clf = KeywordClassifier()
    records = [
        conv("Write Python", "print(1)", category=None),
        conv("I feel sad", "I'm sorry.", category=None),
        conv("Fix my C", "ok", category="technical"),
    ]
    dropped = Dropped()
    out = list(Categorise(clf, fallback="instructional").run(records, dropped))
    assert [c["_category"] for c in out] == ["technical", "empathetic", "technical"]  # the alias is normalised
    assert len(clf.seen) == 2 and clf.seen[0].startswith("user: Write Python")
    assert dropped.notes["category_classified"] == 2 and not dropped.counts


def test_without_a_classifier_the_fallback_is_used_and_counted():
    dropped = Dropped()
    out = list(Categorise(None, fallback="instructional").run([conv("hi there", "hello", category=None)], dropped))
    assert out[0]["_category"] == "instructional" and dropped.notes["category_fallback"] == 1
