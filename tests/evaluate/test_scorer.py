from __future__ import annotations

from eval_helpers import STYLED, scored_turn

from emergent.evaluate import metrics as M
from emergent.evaluate.config import EvalConfig
from emergent.evaluate.scorer import Prototypes, StyleScorer


def test_shipped_prototypes_cover_the_suite_contexts_and_record_how_they_were_built():
    p = Prototypes.load("default")
    # Every suite context: instructional too, a register of its own (how-to replies) even though the
    # suite's instructional items are decided by their IFEval checks.
    assert set(p.contexts) == set(EvalConfig().contexts)
    assert p.centroids.shape[1] == 384 and p.meta["built_from"] == "written"
    assert set(p.meta["validation"]) >= {"corpora", "labelled_test", "labelled_dev"}


def test_a_perfectly_styled_set_scores_high_and_identical_replies_collapse():
    scorer = StyleScorer()
    texts = [(c, t) for c, ts in STYLED.items() for t in ts]
    scores = scorer.score([t for _, t in texts], [c for c, _ in texts])
    turns = [
        dict(scored_turn(f"{c}/{i}", c, s["context"], response=t), probs=s["probs"])
        for i, ((c, t), s) in enumerate(zip(texts, scores, strict=True))
    ]
    assert M.behavioural_range(turns, list(STYLED), n=200)["mean"] >= 0.9
    assert all(s["style_hit"] for s in scores)
    assert all(abs(sum(s["probs"].values()) - 1) < 1e-3 for s in scores)
    same = scorer.score(["I am not sure what you mean."] * len(texts))
    assert len({s["context"] for s in same}) == 1  # one voice → one predicted context: range can't exceed 1/k


def test_missing_prototype_file_says_how_to_build_one(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="emergent eval prototypes"):
        Prototypes.load(tmp_path / "none.npz")
