"""Every shipped config loads; every bad config fails early with one line naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from emergent.config import load_config
from emergent.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize(
    "path",
    [p for p in CONFIGS if not p.name.endswith(".part.yaml") and p.name != "classifier.yaml"],
    ids=lambda p: p.name,
)
def test_shipped_configs_load(path: Path) -> None:
    if "shared/data" in path.read_text() and not (path.parent.parent.parent / "shared" / "data").is_dir():
        pytest.skip("config reads ../shared/data, absent here")
    cfg = load_config(path)
    assert cfg.sources, f"{path.name} lists no sources"
    for source in cfg.sources:
        assert source.files or source.hub


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    (tmp_path / "d.jsonl").write_text("{}\n")
    return p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sourcez: []\n", "unknown key 'sourcez'"),
        ("sources:\n  - {name: a, format: alpaca, path: d.jsonl, colour: red}\n", "unknown key 'sources[0].colour'"),
        ("sources:\n  - {name: a, format: alpacca, path: d.jsonl}\n", "unknown format 'alpacca' — use one of"),
        ("sources:\n  - {name: a, format: alpaca, path: missing.jsonl}\n", "file not found"),
        ("sources:\n  - {name: a, format: alpaca, path: 'nothing*.jsonl'}\n", "no file matches"),
        ("sources:\n  - {name: a, format: alpaca, path: d.jsonl, category: poetry}\n", "unknown category 'poetry'"),
        ("sources:\n  - {name: a, format: alpaca}\n", "needs exactly one of path, paths or hub"),
        (
            "sources:\n  - {name: a, format: alpaca, path: d.jsonl}\n  - {name: a, format: alpaca, path: d.jsonl}\n",
            "name 'a' is used twice",
        ),
        ("sources: [\n", "not valid YAML"),
        ("ingest: {persona_tags: keep}\n", "ingest.persona_tags"),
        (
            "curriculum: {phases: [{name: a, categories: [poetry], learning_rate: 1.0e-5}]}\n",
            "curriculum.phases[0].categories: unknown category 'poetry'",
        ),
        (
            "curriculum: {phases: [{name: a, categories: [], learning_rate: 1.0e-5}]}\n",
            "curriculum.phases[0].categories: no categories",
        ),
        (
            "curriculum: {phases: [{name: a, categories: [all, technical], learning_rate: 1.0e-5}]}\n",
            "write `categories: all` alone",
        ),
        (
            "curriculum: {phases: [{name: a, categories: all, learning_rate: 0}]}\n",
            "curriculum.phases[0].learning_rate: Input should be greater than 0",
        ),
        (
            "curriculum: {phases: [{name: a, categories: all}]}\n",
            "curriculum.phases[0].learning_rate: Field required",
        ),
        (
            "curriculum: {phases: [{name: a/b, categories: all, learning_rate: 1.0e-5}]}\n",
            "curriculum.phases[0].name: 'a/b' cannot name a file",
        ),
        (
            "curriculum:\n  phases:\n    - {name: a, categories: all, learning_rate: 1.0e-5}\n"
            "    - {name: a, categories: all, learning_rate: 2.0e-5}\n",
            "curriculum.phases[1].name: phase 'a' is listed twice — give each phase a unique name",
        ),
        ("curriculum: {phases: []}\n", "curriculum.phases: no phases"),
        ("training: {phases: []}\n", "training.phases: the curriculum is one list now — move the phases to curriculum"),
        ("curate: {phases: []}\n", "curate.phases: the curriculum is one list now — move the phases to curriculum"),
    ],
)
def test_bad_configs_fail_with_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    message = str(err.value)
    assert expected in message
    assert "\n" not in message and str(tmp_path / "c.yaml") in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_seed_aliases_are_accepted(tmp_path: Path) -> None:
    cfg = load_config(
        _write(tmp_path, "sources:\n  - {name: a, format: alpaca, path: d.jsonl, category: psychology_emotional}\n")
    )
    assert cfg.sources[0].category == "empathetic"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    cfg = load_config(_write(tmp_path, "sources:\n  - {name: a, format: alpaca, path: d.jsonl}\n"))
    assert cfg.sources[0].files == [tmp_path / "d.jsonl"]


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = _write(tmp_path, "sourcez: []\n")
    out = subprocess.run(
        [sys.executable, "-m", "emergent", "data", "ingest", str(path), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "unknown key 'sourcez'" in out.stderr and not (tmp_path / "o").exists()


def test_unknown_column_map_field_fails_early(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"column_map: alpaca has no field\(s\) \['question'\]"):
        load_config(
            _write(tmp_path, "sources:\n  - {name: a, format: alpaca, path: d.jsonl, column_map: {question: q}}\n")
        )


def test_extends_reuses_a_base_config_with_its_own_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "d.jsonl").write_text("{}\n")
    (tmp_path / "base" / "corpora.yaml").write_text(
        "seed: 3\nsources:\n  - {name: a, format: alpaca, path: d.jsonl}\ningest: {shard_size: 10}\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text("extends: base/corpora.yaml\ningest: {max_record_chars: 99}\n")
    cfg = load_config(child)
    assert cfg.seed == 3 and cfg.ingest.shard_size == 10 and cfg.ingest.max_record_chars == 99
    assert cfg.sources[0].files == [tmp_path / "base" / "d.jsonl"]


def test_source_overrides_change_one_inherited_source(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("{}\n")
    (tmp_path / "base.yaml").write_text(
        "sources:\n  - {name: a, format: alpaca, path: d.jsonl, max_examples: 5}\n"
        "  - {name: b, format: ibm_debater, path: d.jsonl, options: {per_side: 2}}\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        "extends: base.yaml\nsource_overrides: {b: {options: {rows_per_topic: 4}}, a: {max_examples: 9}}\n"
    )
    cfg = load_config(child)
    a, b = cfg.sources
    assert a.max_examples == 9 and b.options == {"per_side": 2, "rows_per_topic": 4}
    assert a.files == [tmp_path / "d.jsonl"]
    _fails(
        child,
        "source_overrides: {c: {max_examples: 1}}",
        r"names \['c'\], which are not among the sources \['a', 'b'\]",
    )
    _fails(child, "source_overrides: {a: 3}", "must map a source name")


def _fails(child: Path, key: str, match: str) -> None:
    """`child`, extending base.yaml with `key`, fails to load with `match`."""
    child.write_text(f"extends: base.yaml\n{key}\n")
    with pytest.raises(ConfigError, match=match):
        load_config(child)


def test_drop_sources_leaves_inherited_sources_out(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("{}\n")
    (tmp_path / "base.yaml").write_text(
        "sources:\n  - {name: a, format: alpaca, path: d.jsonl}\n  - {name: b, format: alpaca, path: d.jsonl}\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\ndrop_sources: [b]\n")
    assert [s.name for s in load_config(child).sources] == ["a"]
    # A config extending the ablation inherits the shorter list.
    (tmp_path / "grandchild.yaml").write_text("extends: child.yaml\nsource_overrides: {a: {max_examples: 2}}\n")
    assert [(s.name, s.max_examples) for s in load_config(tmp_path / "grandchild.yaml").sources] == [("a", 2)]
    _fails(child, "drop_sources: [c]", r"drop_sources names \['c'\], which are not among the sources")
    _fails(child, "drop_sources: b", "must be a list of source names")
    _fails(child, "drop_sources: [a, b]", "removes every source")


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="forms a cycle"):
        load_config(tmp_path / "a.yaml")


def test_every_error_of_a_config_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("sourcez: []\ntraining: {batch_size: 0, learning_ratee: 1.0}\npeft: {r: -1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 4, lines
    assert any("unknown key 'sourcez'" in line for line in lines)
    assert any("unknown key 'training.learning_ratee'" in line for line in lines)
    assert any("training.batch_size" in line for line in lines) and any("peft.r" in line for line in lines)


SEED_CURRICULUM = [
    ("phase1_foundation", ["technical", "factual", "tool_use", "instructional"], 2e-5),
    ("phase2_analytical", ["analytical", "ethical", "specialized"], 1.5e-5),
    ("phase3_empathic_creative", ["empathetic", "creative", "conversational"], 1e-5),
    ("phase4_mixed", ["all"], 5e-6),
    ("phase5_fine_tuning", ["all"], 3e-6),
]


def test_the_default_curriculum_is_the_seeds(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "name: c\n"))
    assert [(p.name, p.categories, p.learning_rate) for p in cfg.curriculum.phases] == SEED_CURRICULUM
    assert [p.every_bucket for p in cfg.curriculum.phases] == [False, False, False, True, True]
    assert all(p.epochs is p.max_steps is p.max_examples is None for p in cfg.curriculum.phases)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_no_shipped_config_repeats_the_seeds_curriculum(path: Path) -> None:
    """Defined once, in src/emergent/curriculum.yaml: a config lists phases only to train others."""
    phases = (yaml.safe_load(path.read_text()).get("curriculum") or {}).get("phases") or []
    assert [p.get("name") for p in phases] != [name for name, _, _ in SEED_CURRICULUM]


def test_a_curriculum_replaces_the_seeds_whole_and_keeps_its_limits(tmp_path: Path) -> None:
    cfg = load_config(
        _write(
            tmp_path,
            "curriculum:\n  phases:\n"
            "    - {name: code, categories: [code_technical, tool_use], learning_rate: 1.0e-4, max_steps: 3}\n"
            "    - {name: rest, categories: all, learning_rate: 1.0e-5, epochs: 2, max_examples: 10}\n"
            "training: {lr_scale: 2.0}\n",
        )
    )
    code, rest = cfg.curriculum.phases
    assert (code.categories, code.max_steps, rest.epochs, rest.max_examples) == (["technical", "tool_use"], 3, 2, 10)
    assert [p.learning_rate for p in cfg.curriculum.scaled(cfg.training.lr_scale)] == [2e-4, 2e-5]
    assert [p.learning_rate for p in cfg.curriculum.phases] == [1e-4, 1e-5]  # the config's, unscaled


def test_every_curriculum_error_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "curriculum:\n  phases:\n"
        "    - {name: a, categories: [poetry], learning_rate: 1.0e-5}\n"
        "    - {name: a, categories: [], learning_rate: 1.0e-5}\n"
        "    - {name: b, categories: all, learning_rate: -1.0}\n"
        "training: {phases: [], batch_size: 0}\ncurate: {phases: []}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 6, lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert "curate.phases and training.phases: the curriculum is one list now" in lines[0]
    for words in [
        "curriculum.phases[0].categories: unknown category 'poetry'",
        "curriculum.phases[1].categories: no categories",
        "curriculum.phases[2].learning_rate: Input should be greater than 0",
        "curriculum.phases[1].name: phase 'a' is listed twice",
        "training.batch_size",
    ]:
        assert sum(words in line for line in lines) == 1, (words, lines)


def test_the_same_data_through_two_config_folders_gives_the_same_fingerprints(tmp_path: Path) -> None:
    # Two checkouts of one config (a code snapshot beside the working tree) reading the same shared data
    # through "../": the paths used to stay unnormalised ("/a/configs/../data/d.jsonl"), the data stage's
    # fingerprint differed, and `emergent run` rebuilt the data and deleted the finished adapter (session 18).
    from emergent import run

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.jsonl").write_text("{}\n")
    cfgs = []
    for checkout in ("main", "snapshot"):
        folder = tmp_path / checkout / "configs"
        folder.mkdir(parents=True)
        (folder / "corpora.yaml").write_text("sources:\n  - {name: a, format: alpaca, path: ../../data/d.jsonl}\n")
        (folder / "run.yaml").write_text(f"extends: corpora.yaml\noutput_dir: {tmp_path / 'out'}\n")
        cfgs.append(load_config(folder / "run.yaml"))
    assert [c.sources[0].files for c in cfgs] == [[tmp_path / "data" / "d.jsonl"]] * 2
    assert run.fingerprints(cfgs[0]) == run.fingerprints(cfgs[1])
