"""`emergent train` with its output in a file (CI, Slurm, nohup): plain progress lines, step by step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import config_dict, write_phases


def test_training_log_in_a_file_has_a_line_per_step(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data", per_phase=4, validation=0)
    config = tmp_path / "config.yaml"
    raw = config_dict(tiny_model_dir, tmp_path, max_steps_per_phase=2, validation={"enabled": False})
    config.write_text(yaml.safe_dump(raw))
    log = tmp_path / "train.log"
    cli = Path(sys.executable).parent / "emergent"
    env = {**os.environ, "EMERGENT_PROGRESS_SECONDS": "0", "OMP_NUM_THREADS": "1"}
    with log.open("w") as f:
        subprocess.run(
            [str(cli), "train", str(config), "--data", str(data), "-o", str(tmp_path / "out")],
            stdout=f, stderr=subprocess.STDOUT, env=env, check=True, timeout=600,
        )  # fmt: skip
    lines = log.read_text().splitlines()
    steps = [line for line in lines if "] phase3_empathic_creative loss " in line]
    assert [s.split(" | ")[1] for s in steps] == ["1/2", "2/2"], lines
    assert " lr " in steps[0] and " tok/s | " in steps[0]
    assert steps[-1].endswith("| done")
    assert not any("\x1b[" in line for line in lines)
