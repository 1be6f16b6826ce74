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


class UnsureClassifier:
    info = {"confidence_threshold": 0.5}

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        return [("creative", 0.9) if "poem" in t else ("ethical", 0.3) for t in texts]


def test_predictions_below_the_models_threshold_go_to_the_fallback_and_are_counted_per_source():
    from emergent.curate.categorise import prediction_summary

    records = [conv("Write a poem", "Roses...", category=None), conv("hmm", "ok", category=None)]
    dropped = Dropped()
    out = list(Categorise(UnsureClassifier(), fallback="instructional").run(records, dropped))
    assert [c["_category"] for c in out] == ["creative", "instructional"]
    source = out[0]["_source"]
    summary = prediction_summary(dict(dropped.notes))
    assert summary[source]["predicted"] == 2 and summary[source]["buckets"] == {"creative": 1, "ethical": 1}
    assert summary[source]["low_confidence"] == 1 and summary[source]["low_confidence_share"] == 0.5


def test_composition_says_how_much_of_each_bucket_was_predicted():
    from collections import Counter

    from emergent.curate.composition import composition

    comp = composition(Counter(creative=10, technical=5), {}, 1.0, predicted=Counter(creative=4))
    assert comp["creative"]["predicted"] == 4 and comp["creative"]["from_config"] == 6
    assert (
        comp["technical"]["predicted"] == 0 and "predicted" not in composition(Counter(creative=1), {}, 1.0)["creative"]
    )
