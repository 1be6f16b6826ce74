"""Two CPU processes (torchrun, gloo): gradients synchronise and the result matches one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

from emergent.config import parse_config
from emergent.train.trainer import train

from .conftest import config_dict, write_phases


def _config(model_dir: Path, tmp: Path, batch_size: int) -> dict:
    raw = config_dict(model_dir, tmp, batch_size=batch_size, gradient_accumulation=1)
    raw["training"]["phases"] = raw["training"]["phases"][:2]  # two phases are enough to show it
    return raw


def _adapter(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "adapter" / "adapter_model.safetensors")


def test_two_processes_match_one_process(tiny_model_dir, tmp_path):
    data = write_phases(tmp_path / "data")
    # 2 processes x batch 1 see the same rows per step as 1 process x batch 2.
    config = tmp_path / "two.yaml"
    config.write_text(yaml.safe_dump(_config(tiny_model_dir, tmp_path, batch_size=1)))
    torchrun = Path(sys.executable).parent / "torchrun"
    cli = Path(sys.executable).parent / "emergent"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(cli), "train", str(config),
           "--data", str(data), "-o", str(tmp_path / "two"), "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    one = train(parse_config(_config(tiny_model_dir, tmp_path, 2), tmp_path / "one.yaml"), data, tmp_path / "one",
                show_progress=False)  # fmt: skip
    train(parse_config(_config(tiny_model_dir, tmp_path, 1), tmp_path / "half.yaml"), data,
                 tmp_path / "half", show_progress=False)  # fmt: skip

    summary = yaml.safe_load((tmp_path / "two" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["effective_batch"] == 2
    assert [p["steps"] for p in summary["phases"]] == [p["steps"] for p in one["phases"]]
    assert [p["tokens"] for p in summary["phases"]] == [p["tokens"] for p in one["phases"]]
    for a, b in zip(summary["phases"], one["phases"], strict=False):
        assert abs(a["loss_last"] - b["loss_last"]) < 1e-4
    two, single, alone = _adapter(tmp_path / "two"), _adapter(tmp_path / "one"), _adapter(tmp_path / "half")
    for key, value in single.items():
        torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-6)
    # Control: one process on half the rows per step ends elsewhere, so the match above needed both halves.
    assert max((alone[k] - single[k]).abs().max().item() for k in single) > 1e-4
