"""`emergent compare`: runs side by side, scored by the real checker and style scorer (`eval score`), or evaluated on a tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from controls import CONTROLS, generations
from eval_helpers import tiny_eval_config
from scipy.stats import binomtest
from typer.testing import CliRunner

from emergent.cli import app
from emergent.config import load_config
from emergent.evaluate import stats
from emergent.evaluate.compare import CompareError, Comparison, EvaluatedRun, compare_runs, seed_groups, systems_of
from emergent.evaluate.run import STYLE_KEYS, suite_for
from emergent.evaluate.suite import Item

runner = CliRunner()
GENERIC = CONTROLS["generic"]


def _config(folder: Path, **eval_: object) -> Path:
    cfg = {
        "name": "t",
        "output_dir": str(folder / "run"),
        "eval": {
            "prompts_per_context": 3,
            "consistency_dialogues": 1,
            "transition_dialogues": 1,
            "dialogues_per_kind": 1,
            **eval_,
        },
    }
    path = folder / "eval.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _items(config: Path) -> list[Item]:
    return suite_for(load_config(config).eval).items


def _answer(passing: set[str]):
    """The gold answer on the items in `passing` (where one exists), the generic reply elsewhere."""
    return lambda it: it.reference if it.id in passing and it.reference else GENERIC(it)


# Style scores already computed, by (reply, expected context): the embedding model is the slow part of
# `eval score`, and the runs of a study share many replies (scoring skips rows that carry them).
STYLED: dict[tuple[str, str], dict] = {}


def _scored_run(run: Path, config: Path, sides: dict[str, object], train: dict | None = None) -> Path:
    """RUN/eval/{eval.json,generations.jsonl} written by the real `emergent eval score`."""
    items = _items(config)
    gen = run / "raw.jsonl"
    run.mkdir(parents=True)
    rows = [r for side, f in sides.items() for r in generations(items, f, side)]
    gen.write_text("".join(json.dumps({**r, **STYLED.get((r["response"], r["context"]), {})}) + "\n" for r in rows))
    res = runner.invoke(app, ["eval", "score", str(gen), "-o", str(run / "eval"), "--config", str(config)])
    assert res.exit_code == 0, res.output
    for line in (run / "eval" / "generations.jsonl").read_text().splitlines():
        r = json.loads(line)
        if all(k in r for k in STYLE_KEYS):
            STYLED[r["response"], r["context"]] = {k: r[k] for k in STYLE_KEYS}
    if train is not None:
        (run / "train").mkdir()
        (run / "train" / "train_summary.json").write_text(json.dumps(train))
    return run


def _train(steps: int, replay_seconds: float | None = None) -> dict:
    """train_summary.json's cost figures; with `replay_seconds`, each phase generated replay replies that long."""
    phases = [{"name": f"p{k}", "steps": steps, "tokens": 1000 * (k + 1), "seconds": 1.5} for k in range(5)]
    for p in phases if replay_seconds is not None else []:
        p["replay"] = {"trained": 10, "chosen": 5, "replayed": 4, "generated": 5, "seconds": replay_seconds}
    return {"total_steps": 5 * steps, "seconds": 7.5, "phases": phases}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two seeds of one variant (same base replies), and a run whose base replies differ."""
    root = tmp_path_factory.mktemp("study")
    config = _config(root)
    checked = [it.id for it in _items(config) if it.checks]
    return {
        "config": config,
        "seed0": _scored_run(
            root / "lr10-seed0", config, {"base": GENERIC, "adapter": _answer(set(checked))}, _train(4)
        ),
        "seed1": _scored_run(
            root / "lr10-seed1", config, {"base": GENERIC, "adapter": _answer(set(checked[::2]))}, _train(4, 2.0)
        ),
        "echo": _scored_run(root / "echo", config, {"base": CONTROLS["echo"], "adapter": _answer(set(checked[:5]))}),
    }


def _verdicts(run: Path, side: str) -> dict[str, tuple[str, bool]]:
    """{item id: (context, passed)} as the run's own scoring wrote them (the `check` of the judged turn)."""
    rows = [json.loads(x) for x in (run / "eval" / "generations.jsonl").read_text().splitlines()]
    return {r["id"]: (r["context"], r["check"]["passed"]) for r in rows if r["side"] == side and "check" in r}


def _macro(v: dict[str, tuple[str, bool]]) -> float:
    contexts = sorted({c for c, _ in v.values()})
    return float(np.mean([np.mean([p for c2, p in v.values() if c2 == c]) for c in contexts]))


def test_the_table_matches_a_hand_computation_and_dedups_the_shared_base(study):
    c = compare_runs([study["seed0"], study["seed1"]], samples=300)
    labels = [s.label for s in c.systems]
    assert labels == ["base", "lr10-seed0", "lr10-seed1"]
    assert any("identical replies" in n and "lr10-seed0, lr10-seed1" in n for n in c.notes) and not c.warnings
    by = {s.label: s for s in c.systems}
    base = _verdicts(study["seed0"], "base")
    for label, run in (("lr10-seed0", study["seed0"]), ("lr10-seed1", study["seed1"])):
        a = _verdicts(run, "adapter")
        assert by[label].primary.mean == pytest.approx(_macro(a), abs=1e-4)
        assert by[label].primary.n == len(a) == c.suite["checked_items"]
        # The difference: macro over contexts of the per-item differences; McNemar on the discordant pairs.
        d = next(d for d in c.differences if d.system == label and d.metric == "primary")
        diff = {i: (ctx, float(a[i][1]) - float(base[i][1])) for i, (ctx, _) in a.items()}
        ctxs = sorted({ctx for ctx, _ in diff.values()})
        expected = np.mean([np.mean([x for c2, x in diff.values() if c2 == ctx]) for ctx in ctxs])
        assert d.reference == "base" and d.n == len(a) and d.mean == pytest.approx(expected, abs=1e-4)
        only_a = sum(1 for i in a if a[i][1] and not base[i][1])
        only_b = sum(1 for i in a if base[i][1] and not a[i][1])
        assert d.detail["system_only"] == only_a and d.detail["reference_only"] == only_b
        assert d.p == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue, abs=1e-6)
        assert d.ci95[0] <= d.mean <= d.ci95[1]
        # The run's own eval.json agrees on the point estimate (the same definition).
        own = json.loads((run / "eval" / "eval.json").read_text())["primary"]["adapter"]["mean"]
        assert by[label].primary.mean == own
    assert by["lr10-seed0"].primary.mean == 1.0 or by["lr10-seed0"].primary.mean > by["lr10-seed1"].primary.mean
    # Every secondary metric for every system, with n; training cost for adapters only.
    for s in c.systems:
        assert set(s.secondary) == {"range", "fit", "consistency", "transitions", "collapse", "depth", "dialogues"}
        assert s.secondary["range"].n > 0
    assert by["base"].training is None
    t = by["lr10-seed0"].training
    assert (t.steps, t.tokens, t.seconds, len(t.phases), t.replay_seconds) == (20, 15000, 7.5, 5, None)
    assert by["lr10-seed1"].training.replay_seconds == 10.0  # training.replay's generation, beside the steps'
    from emergent.report.compare_page import summary_rows

    headers, rows = summary_rows(c)
    cost = {r[0]: r[headers.index("train seconds")] for r in rows}
    assert cost["lr10-seed0"] == "7.5" and cost["lr10-seed1"] == "7.5 + 10.0 replay"
    # Seeds: lr10 = the two adapters' primary means.
    (g,) = c.groups
    means = [by["lr10-seed0"].primary.mean, by["lr10-seed1"].primary.mean]
    assert g.name == "lr10" and g.how == "seed suffix" and g.n == 2
    assert g.mean == pytest.approx(np.mean(means), abs=1e-4) and g.sd == pytest.approx(np.std(means, ddof=1), abs=1e-4)
    assert (g.min, g.max) == (min(means), max(means))
    # The group's pooled difference: per item the seeds' mean difference against base, macro over contexts,
    # with an interval from resampling seeds and items; the group is one more test in the Holm family.
    pooled = next(d for d in c.differences if d.system == "lr10")
    a0, a1 = _verdicts(study["seed0"], "adapter"), _verdicts(study["seed1"], "adapter")
    per_item = {i: (ctx, (a0[i][1] + a1[i][1]) / 2 - base[i][1]) for i, (ctx, _) in base.items()}
    ctxs = sorted({ctx for ctx, _ in per_item.values()})
    expected = np.mean([np.mean([x for c2, x in per_item.values() if c2 == ctx]) for ctx in ctxs])
    assert pooled.mean == pytest.approx(expected, abs=1e-4) and pooled.reference == "base"
    assert pooled.test == "seeds_and_items_bootstrap" and pooled.n == len(base) and pooled.detail["seeds"] == 2
    assert pooled.detail["systems"] == ["lr10-seed0", "lr10-seed1"]
    assert pooled.ci95[0] <= pooled.mean <= pooled.ci95[1] and pooled.p_holm is not None
    from emergent.report.compare_page import group_line, group_rows, markdown

    g_headers, (g_row,) = group_rows(c)
    assert g_row[g_headers.index("Δ vs base, seeds pooled")].startswith(f"{pooled.mean:+.3f} [")
    assert "seeds pooled" in markdown(c) and "resamples the seeds and the items" in markdown(c)
    assert f"; pooled Δ vs base {pooled.mean:+.3f} [" in group_line(c, g)  # the terminal's line


def test_every_figure_equals_the_runs_own_eval_json_at_its_samples_and_seed(study):
    """One definition per figure: compare recomputes eval.json's numbers exactly (eval score used 1000 and seed 0)."""
    c = compare_runs([study["seed0"]], samples=1000, seed=0)
    own = json.loads((study["seed0"] / "eval" / "eval.json").read_text())
    for s in c.systems:
        side = s.side
        assert s.primary.model_dump() == {k: own["primary"][side][k] for k in ("mean", "ci95", "n")}
        for metric in ("range", "consistency", "transitions", "depth"):
            assert s.secondary[metric].model_dump() == {k: own[metric][side][k] for k in ("mean", "ci95", "n")}
        cp = own["collapse"][side]["context_predictability"]
        assert s.secondary["collapse"].model_dump() == {k: cp[k] for k in ("mean", "ci95", "n")}
        kinds = own["dialogues"]["sides"][side]
        assert {k: f.mean for k, f in s.dialogue_kinds.items()} == {k: kinds[k]["mean"] for k in s.dialogue_kinds}


def test_holm_runs_over_every_system_and_metric_with_no_verdict_below_min_n(study):
    c = compare_runs([study["seed0"], study["seed1"]], samples=300)
    # Not the figures a control reaches (metrics.REACHED_BY_CONTROLS): they are shown, never tested.
    metrics = {"primary", "fit", "consistency", "dialogues"}
    # Two seeds × four metrics, and the seed group lr10's pooled primary difference: one family.
    assert {d.metric for d in c.differences} == metrics and len(c.differences) == 2 * len(metrics) + 1
    counted = [d for d in c.differences if d.n >= stats.MIN_N and d.p is not None]
    ps = sorted(d.p for d in counted)
    m = len(ps)
    running, expected = 0.0, []
    for rank, p in enumerate(ps):  # Holm by hand: the k-th smallest times (m - k), running maximum
        running = max(running, min(1.0, (m - rank) * p))
        expected.append(running)
    assert sorted(d.p_holm for d in counted) == pytest.approx(expected, abs=1e-6)
    # Holm's arithmetic itself is test_stats.py's; here, that compare runs it over the whole family.
    assert m >= 2 and {d.metric for d in counted} >= {"primary", "fit"}
    for d in c.differences:
        if d.n < stats.MIN_N:
            assert d.p_holm is None and d.verdict.startswith("no verdict (n = ")
        else:
            assert d.verdict in ("better", "worse", "not significant")
    best = next(d for d in c.differences if d.system == "lr10-seed0" and d.metric == "primary")
    assert best.verdict == "better" and best.p_holm < stats.ALPHA


def test_different_base_replies_are_kept_and_each_run_uses_its_own(study):
    c = compare_runs([study["seed0"], study["echo"]], samples=200)
    labels = [s.label for s in c.systems]
    assert "base (lr10-seed0)" in labels and "base (echo)" in labels
    assert any("base replies differ between runs" in w for w in c.warnings)
    refs = {d.system: d.reference for d in c.differences if d.metric == "primary"}
    assert refs == {"lr10-seed0": "base (lr10-seed0)", "echo": "base (echo)"}
    assert c.groups == []
    # A run as the reference; an explicit group.
    c = compare_runs(
        [study["seed0"], study["seed1"], study["echo"]], "lr10-seed0", {"mixed": ["lr10-seed1", "echo"]}, 200
    )
    assert {d.reference for d in c.differences} == {"lr10-seed0"}
    assert [(g.name, g.how, g.n) for g in c.groups] == [("mixed", "--group", 2)]
    # Seeds of `mixed` against lr10-seed0; a group named like a system is refused.
    (pooled,) = [d for d in c.differences if d.system == "mixed"]
    assert pooled.reference == "lr10-seed0" and pooled.detail["systems"] == ["lr10-seed1", "echo"]
    with pytest.raises(CompareError, match="seed group echo has the name of a system"):
        compare_runs([study["seed0"], study["echo"]], groups={"echo": ["lr10-seed0", "echo"]}, samples=200)
    with pytest.raises(CompareError, match="--reference nope: no such system"):
        compare_runs([study["seed0"]], "nope", samples=200)


def test_seed_groups_rule():
    names = ["lr10-seed0", "lr10-seed1", "lr10_seed2", "lr20-seed0", "shuffled", "x-seed1"]
    assert seed_groups(names) == {"lr10": (["lr10-seed0", "lr10-seed1", "lr10_seed2"], "seed suffix")}
    got = seed_groups(names, {"mine": ["lr20-seed0", "x-seed1"]})
    assert got["mine"] == (["lr20-seed0", "x-seed1"], "--group") and "lr10" in got
    with pytest.raises(CompareError, match="--group g: nope is not among the runs"):
        seed_groups(names, {"g": ["nope"]})


def _edited(src: Path, dst: Path, **changes: object) -> Path:
    shutil.copytree(src, dst)
    path = dst / "eval" / "eval.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return dst


def test_a_base_shown_once_has_no_held_out_loss_when_the_runs_validation_sets_differ(study, tmp_path: Path):
    """Identical base replies, other builds: the base's held-out loss belongs to each run, not to the system."""

    def heldout(base: float, adapter: float) -> dict:
        return {"examples": 100, "base": {"loss": base}, "adapter": {"loss": adapter}}

    a = _edited(study["seed0"], tmp_path / "lr10-seed0", heldout=heldout(2.5, 2.4))
    b = _edited(study["seed1"], tmp_path / "lr10-seed1", heldout=heldout(2.5, 2.3))
    c = compare_runs([a, b], samples=200)
    by = {s.label: s for s in c.systems}
    assert by["base"].heldout_loss.mean == 2.5 and by["lr10-seed1"].heldout_loss.mean == 2.3
    assert not any("held-out loss differs" in w for w in c.warnings)
    shutil.rmtree(b)
    b = _edited(study["seed1"], tmp_path / "lr10-seed1", heldout=heldout(2.2, 2.1))
    c = compare_runs([a, b], samples=200)
    by = {s.label: s for s in c.systems}
    assert by["base"].heldout_loss is None and by["lr10-seed1"].heldout_loss.mean == 2.1
    (w,) = [w for w in c.warnings if "held-out loss differs" in w]
    assert "2.500 in lr10-seed0, 2.200 in lr10-seed1" in w


def test_refusals_name_the_runs_and_what_differs(study, tmp_path: Path):
    cases = [
        (_edited(study["seed1"], tmp_path / "greedy", decoding={"do_sample": True}), "different decodings"),
        (_edited(study["seed1"], tmp_path / "bigger", model="smollm2-360m"), "different base models"),
    ]
    small = _config(tmp_path, prompts_per_context=2)
    cases.append((_scored_run(tmp_path / "small", small, {"base": GENERIC}), "different suites"))
    for run, what in cases:
        res = runner.invoke(app, ["compare", str(study["seed0"]), str(run), "-o", str(tmp_path / "out")])
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert "\n" not in line and what in line and "lr10-seed0" in line and run.name in line, line
    moved = _edited(study["seed1"], tmp_path / "moved")
    gen = moved / "eval" / "generations.jsonl"
    rows = [json.loads(x) for x in gen.read_text().splitlines()]
    rows[0]["prompt"] = "another prompt"
    gen.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = runner.invoke(app, ["compare", str(study["seed0"]), str(moved), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "different suite items (the same ids with other prompts" in res.output
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["compare", str(study["seed0"]), str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "empty: no eval/eval.json" in res.output
    assert not (tmp_path / "out").exists()


def test_cli_writes_json_markdown_and_html_and_is_reproducible(study, tmp_path: Path):
    args = ["compare", str(study["seed0"]), str(study["seed1"]), str(study["echo"]), "--samples", "200"]
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "reference base" in res.output and "group lr10" in res.output
    c = Comparison.model_validate_json((tmp_path / "a" / "compare.json").read_text())
    assert c.schema_version == 1 and c.samples == 200 and len(c.runs) == 3
    md = (tmp_path / "a" / "compare.md").read_text()
    header, rule, *rows = [x for x in md.splitlines() if x.startswith("|")][:6]
    assert "Δ vs base" in header and "train tokens" in header and len(rows) == 3 + 1  # four systems
    for row in rows:  # n next to every figure
        cells = row.split(" | ")
        assert all("(n=" in x for x in cells[1:2] + cells[5:9]), row
    html = (tmp_path / "a" / "compare.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert not any(x in html for x in ("<script", "<link", "src=", "url("))  # self-contained: nothing fetched
    assert "base replies differ between runs" in html
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a" / "compare.json").read_text() == (tmp_path / "b" / "compare.json").read_text()
    assert (tmp_path / "a" / "compare.md").read_text() == (tmp_path / "b" / "compare.md").read_text()


def test_sides_made_from_the_adapter_are_named_after_their_run():
    def rows(side: str, reply: str) -> list[dict]:
        return [{"side": side, "id": f"i{k}", "turn": 0, "response": reply} for k in range(3)]

    runs = [
        EvaluatedRun(
            name,
            Path(name),
            {"sides": ["base", "adapter", "base_no_history", "adapter_no_history"]},
            {
                "base": rows("base", "same"),
                "adapter": rows("adapter", name),
                "base_no_history": rows("base_no_history", "alone"),
                "adapter_no_history": rows("adapter_no_history", name + " alone"),
            },
            None,
        )
        for name in ("a-seed0", "a-seed1")
    ]
    systems, notes, warnings = systems_of(runs)
    assert [s.label for s in systems] == [
        "base",
        "a-seed0",
        "base_no_history",
        "a-seed0 adapter_no_history",
        "a-seed1",
        "a-seed1 adapter_no_history",
    ]
    assert len(notes) == 2 and warnings == []


def test_two_evaluated_tiny_model_runs(tmp_path: Path, tiny_model_dir: Path, make_tiny_adapter):
    """Real `emergent eval` on a tiny model with two adapters: one base (greedy: identical), two seeds, one group."""
    config = tiny_eval_config(tmp_path / "eval.yaml", tiny_model_dir, tmp_path / "unused", heldout={"enabled": False})
    runs = []
    for k in (0, 1):
        adapter = make_tiny_adapter(tiny_model_dir, tmp_path / f"adapter{k}", ["q_proj", "v_proj"], seed=k + 5)
        run = tmp_path / f"tiny-seed{k}"
        res = runner.invoke(app, ["eval", str(config), "--adapter", str(adapter), "-o", str(run / "eval"), "--quiet"])
        assert res.exit_code == 0, res.output
        runs.append(run)
    res = runner.invoke(app, ["compare", *map(str, runs), "-o", str(tmp_path / "cmp"), "--samples", "200"])
    assert res.exit_code == 0, res.output
    c = Comparison.model_validate_json((tmp_path / "cmp" / "compare.json").read_text())
    assert [s.label for s in c.systems] == ["base", "tiny-seed0", "tiny-seed1"]
    assert c.model == str(tiny_model_dir) and c.decoding["max_new_tokens"] == 6
    own = json.loads((runs[0] / "eval" / "eval.json").read_text())["primary"]
    assert c.systems[0].primary.mean == own["base"]["mean"] and c.systems[1].primary.mean == own["adapter"]["mean"]
    assert [g.name for g in c.groups] == ["tiny"] and c.groups[0].n == 2
    # A variant as the reference (the study's `reference: <variant>`): each seed against the same seed.
    c = compare_runs(runs, "tiny", samples=200)
    assert {(d.system, d.reference) for d in c.differences} == {("base", "tiny-seed0")}
