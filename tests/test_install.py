"""The install: compatible ranges around the locked versions, extras for the optional parts, and a
training path that runs with none of them installed (a missing extra is one line naming it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from emergent.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _lock() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = Version(next(iter(req.specifier)).version)
    return pins


def test_core_dependencies_are_ranges_that_hold_the_locked_versions():
    lock = _lock()
    for line in PROJECT["dependencies"]:
        req = Requirement(line)
        assert not any(s.operator == "==" for s in req.specifier), f"{line}: a pin forces a user's environment"
        assert any(s.operator == "<" for s in req.specifier), f"{line}: no upper bound at the next major"
        assert req.specifier.contains(lock[req.name.lower()]), f"{line} excludes the tested {lock[req.name.lower()]}"
    torch = next(Requirement(d) for d in PROJECT["dependencies"] if d.startswith("torch"))
    assert torch.specifier.contains("2.14.1")  # a newer torch a user already has is kept, not downgraded


def test_training_needs_none_of_the_evaluation_or_curation_packages():
    core = {Requirement(d).name.lower() for d in PROJECT["dependencies"]}
    for _module, (dist, extras) in EXTRAS.items():
        assert Requirement(dist).name.lower() not in core, dist
        for extra in extras:
            declared = {Requirement(d).name.lower() for d in PROJECT["optional-dependencies"][extra]}
            assert Requirement(dist).name.lower() in declared, (dist, extra)


# Run a command as if no extra were installed: None in sys.modules makes `import x` raise
# ModuleNotFoundError and importlib.util.find_spec(x) return None, as for a package that is absent.
HARNESS = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from emergent.cli import main
sys.argv = ["emergent", *{args!r}]
main()
"""


def _run_without_extras(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = HARNESS.format(blocked=sorted(EXTRAS), args=args)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_emergent_train_runs_with_only_the_core_install(tiny_model_dir, tmp_path):
    from train.conftest import config_dict, write_phases

    data = write_phases(tmp_path / "data", per_phase=3)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(config_dict(tiny_model_dir, tmp_path, max_steps_per_phase=1)))
    done = _run_without_extras(["train", str(config), "--data", str(data), "-o", str(tmp_path / "out"), "--quiet"],
                               tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "train_summary.json").read_text())["total_steps"] == 5


def test_a_command_that_needs_an_extra_names_it_in_one_line(tmp_path):
    gens = tmp_path / "generations.jsonl"
    row = {"side": "base", "id": "factual-0", "kind": "prompt", "turn": 0, "context": "factual",
           "prompt": "What is the capital of France?", "response": "Paris."}  # fmt: skip
    gens.write_text(json.dumps(row) + "\n")
    done = _run_without_extras(["eval", "score", str(gens), "-o", str(tmp_path / "out")], tmp_path)
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("missing extra: this command needs"), done.stderr
    assert "pip install 'emergent[eval]'" in lines[0]


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_every_extra_module_is_importable_in_the_test_environment(module):
    """The lock installs every extra, so the full test suite runs each optional path for real."""
    if module in ("openai", "deepspeed"):
        pytest.importorskip(module)
    __import__(module)
