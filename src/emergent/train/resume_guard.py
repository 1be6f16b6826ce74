"""What a training run started with, recorded once, and compared on every --resume.

A checkpoint's position is a step number: which rows come next follows from the row order (seed,
phase files), the rows per step (processes x batch x accumulation, max_seq_len, packing) and the
phase plan (steps, learning rates). A resume under other values would continue from a wrong place
or re-plan a phase as already finished, silently. So the values are written to
OUT/run_settings.json when a run starts, and a resume that differs in any of them is refused with
one line per difference.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emergent.data.store import VALIDATION_FILE
from emergent.lm.registry import resolve_model_path
from emergent.train.data import phase_file

if TYPE_CHECKING:
    from emergent.config import RunConfig

RUN_SETTINGS = "run_settings.json"
_EDGE = 1 << 20  # bytes hashed at each end of a data file


def file_fingerprint(path: Path) -> str:
    """Size + hash of the first and last MiB: a rebuilt Parquet file differs there (row groups, footer
    statistics) while hashing multi-GB phase files in full would delay every start."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(_EDGE))
        if size > _EDGE:
            f.seek(max(_EDGE, size - _EDGE))
            h.update(f.read())
    return f"{size}:{h.hexdigest()[:16]}"


def model_fingerprint(name: str) -> str:
    """The model's name, plus its config and weight file sizes when it is a local folder."""
    path = Path(resolve_model_path(name))
    if not path.is_dir():
        return name
    h = hashlib.sha256()
    if (path / "config.json").is_file():
        h.update((path / "config.json").read_bytes())
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return f"{name}:{h.hexdigest()[:16]}"


def run_settings(cfg: RunConfig, data_dir: Path, world_size: int, seed: int) -> dict[str, Any]:
    """Everything that fixes where a step lands in the data and on the schedule, as plain values."""
    t = cfg.training
    validation = Path(data_dir) / VALIDATION_FILE
    return {
        "world_size": world_size,
        "batch_size": t.batch_size,
        "gradient_accumulation": t.gradient_accumulation,
        "max_seq_len": t.max_seq_len,
        "packing": t.packing,
        "overlong": t.overlong,
        "seed": seed,
        "epochs_per_phase": t.epochs_per_phase,
        "max_steps_per_phase": t.max_steps_per_phase,
        "max_examples_per_phase": t.max_examples_per_phase,
        "lr_scheduler": t.lr_scheduler,
        "warmup_ratio": t.warmup_ratio,
        "lr_scale": t.lr_scale,
        "curriculum": t.curriculum,
        "no_curriculum_learning_rate": t.no_curriculum_learning_rate,
        "phases": [
            p.model_dump(include={"name", "learning_rate", "epochs", "max_steps", "max_examples"})
            for p in cfg.curriculum.phases
        ],  # fmt: skip
        "peft": cfg.peft.model_dump(),
        "base_model": model_fingerprint(cfg.model.name),
        "data": {p.name: file_fingerprint(phase_file(data_dir, p.name)) for p in cfg.curriculum.phases}
        | ({VALIDATION_FILE: file_fingerprint(validation)} if validation.is_file() else {}),
    } | ({"mask_history": True} if t.mask_history else {})  # absent when off: older runs still resume


# How each setting is named in a config, for the error line.
_CONFIG_KEY = {
    "world_size": "the number of processes (accelerate launch --num_processes)",
    "seed": "seed (training.seed or the run's seed)",
    "phases": "curriculum.phases",
    "peft": "peft",
    "base_model": "model.name (or the model files under it)",
    "data": "the data folder (rebuilt or another one)",
}


def differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(recorded) | set(now)):
        if recorded.get(key) != now.get(key):
            name = _CONFIG_KEY.get(key, f"training.{key}")
            if key == "data":
                changed = sorted(k for k in set(recorded.get(key, {})) | set(now.get(key, {}))
                                 if recorded.get(key, {}).get(k) != now.get(key, {}).get(k))  # fmt: skip
                lines.append(f"{name}: {', '.join(changed)} differ from the files the run started on")
            else:
                lines.append(f"{name}: the run started with {recorded.get(key)!r}, now {now.get(key)!r}")
    return lines


def check_resume(out: Path, settings: dict[str, Any], resume: bool, has_run: bool) -> None:
    """Refuse a resume whose settings differ from the recorded ones (every difference named)."""
    path = Path(out) / RUN_SETTINGS
    if not resume or not has_run:
        return
    if not path.is_file():
        raise ValueError(
            f"{out} holds a training run without {RUN_SETTINGS}, so a resume cannot be checked against the "
            "settings it started with — start it over with --fresh"
        )
    # JSON round trip: tuples and lists compare equal to what was written.
    diff = differences(json.loads(path.read_text()), json.loads(json.dumps(settings)))
    if diff:
        raise ValueError(
            f"cannot resume {out}: it started with other settings, and continuing would train from a wrong "
            "position —\n  " + "\n  ".join(diff) + "\nset them back to the values it started with, or pass "
            "--fresh to start the training over"
        )


def record(out: Path, settings: dict[str, Any]) -> None:
    (Path(out) / RUN_SETTINGS).write_text(json.dumps(settings, indent=2))
