"""Crash-safe checkpoints inside a phase, and the markers of finished phases.

A checkpoint folder OUT/checkpoints/<phase>-step<N>/ holds the adapter weights, optimizer and
scheduler state, every process's RNG state and state.json (phase, step, running statistics).
It is written under a temporary name and renamed when complete, so a kill -9 mid-write leaves
either the previous checkpoint or the new one, never a half one. The data position is the step:
a phase's row order is a pure function of (seed, phase, epoch), so step N fixes the next rows.
A phase is finished when OUT/phases/<phase>/phase.json exists (written after its adapter).
"""

from __future__ import annotations

import json
import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

_CKPT = re.compile(r"^(?P<phase>.+)-step(?P<step>\d+)$")


def rng_state() -> dict[str, Any]:
    """Every generator's state in types `torch.load(weights_only=True)` accepts (numpy's as tensors)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "gauss": float(gauss)}  # fmt: skip
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(out: Path, phase: str, step: int) -> Path:
    return out / "checkpoints" / f"{phase}-step{step:07d}"


def list_checkpoints(out: Path, phase: str) -> list[tuple[int, Path]]:
    """Complete checkpoints of `phase`, oldest first."""
    found = []
    for d in (out / "checkpoints").glob(f"{phase}-step*"):
        m = _CKPT.match(d.name)
        if m and m["phase"] == phase and (d / "state.json").is_file():
            found.append((int(m["step"]), d))
    return sorted(found)


def write_rng(folder: Path, rank: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), folder / f"rng-rank{rank}.pt")


def write_checkpoint(
    tmp: Path, final: Path, adapter: dict[str, torch.Tensor], optimizer: dict | None, scheduler: Any, state: dict
) -> None:
    """Main process: write everything into `tmp` (other ranks already put their RNG there, and DeepSpeed
    its partitioned optimizer state, in which case `optimizer` is None), then rename."""
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in adapter.items()}, tmp / "adapter.safetensors")
    if optimizer is not None:
        torch.save(optimizer, tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def read_checkpoint(folder: Path, rank: int) -> tuple[dict[str, torch.Tensor], dict | None, dict, dict, dict]:
    """adapter weights, optimizer state (None when DeepSpeed wrote its own), scheduler state, state.json,
    this rank's RNG state."""
    from safetensors.torch import load_file

    rng_file = folder / f"rng-rank{rank}.pt"
    if not rng_file.is_file():
        raise ValueError(
            f"{folder}: no RNG state for process {rank} — resume with the same number of processes as the "
            "run that wrote it, or delete the checkpoint to restart the phase from its beginning"
        )
    return (
        load_file(folder / "adapter.safetensors"),
        _load_plain(folder / "optimizer.pt") if (folder / "optimizer.pt").is_file() else None,
        _load_plain(folder / "scheduler.pt"),
        json.loads((folder / "state.json").read_text()),
        _load_plain(rng_file),
    )


def _load_plain(path: Path) -> Any:
    """torch.load restricted to tensors and plain containers: unpickling may run any code a file carries,
    and a checkpoint folder is something users copy between machines."""
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path}: refused — it holds objects other than tensors and plain Python values, so loading it "
            "could run code from the file. Checkpoints written by emergent never do; delete this checkpoint "
            "folder (the phase restarts from the previous one) or pass --fresh"
        ) from err


def prune_checkpoints(out: Path, phase: str, keep: int) -> None:
    for _step, d in list_checkpoints(out, phase)[:-keep] if keep else list_checkpoints(out, phase):
        shutil.rmtree(d, ignore_errors=True)


def phase_done_file(out: Path, phase: str) -> Path:
    return out / "phases" / phase / "phase.json"
