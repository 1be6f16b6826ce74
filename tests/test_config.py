"""Every shipped config loads; every bad config fails early with one line naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_training_phase_the_build_never_writes_fails_before_any_work(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  phases:\n    - {name: phase1_foundation, learning_rate: 2.0e-5}\n"
                    "    - {name: phase9_extra, learning_rate: 1.0e-5}\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"training\.phases names \['phase9_extra'\].*curate\.phases"):
        load_config(path)
