"""Hand-written phase files (tool calls, multi-turn, system prompts) and configs for the trainer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergent.config import parse_config
from emergent.data.store import write_conversations
from emergent.schema import make_conversation, tool_call
from torch_threads import single_torch_thread

PHASES = {
    "phase1_foundation": ["technical", "factual", "tool_use", "instructional"],
    "phase2_analytical": ["analytical", "ethical", "specialized"],
    "phase3_empathic_creative": ["empathetic", "creative", "conversational"],
    "phase4_mixed": ["all"],
    "phase5_fine_tuning": ["all"],
}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def conversations(n: int, offset: int = 0) -> list[dict]:
    """`n` varied conversations; every fourth has a tool call, every third is multi-turn."""
    out = []
    for i in range(offset, offset + n):
        if i % 4 == 0:
            city = ["Paris", "Lima", "Oslo", "Accra"][i % 3]
            msgs = [
                {"role": "user", "content": f"What is the weather in {city} right now? ({i})"},
                {"role": "assistant", "content": "", "tool_calls": [tool_call("get_weather", {"city": city})]},
                {"role": "tool", "content": f'{{"temp_c": {i % 30}}}', "tool_call_id": "call_0", "name": "get_weather"},
                {"role": "assistant", "content": f"It is {i % 30} degrees Celsius in {city}."},
            ]
            out.append(
                make_conversation(msgs, source="hand", origin=f"t{i}", category="tool_use", tools=[WEATHER_TOOL])
            )
        elif i % 3 == 0:
            msgs = [
                {"role": "system", "content": "You are a patient listener."},
                {"role": "user", "content": f"I failed my exam number {i} and feel awful."},
                {"role": "assistant", "content": "I'm sorry, that sounds really hard. What happened?"},
                {"role": "user", "content": "I ran out of time on the last questions."},
                {
                    "role": "assistant",
                    "content": "Running out of time is common; next time we can plan a pace together.",
                },
            ]
            out.append(make_conversation(msgs, source="hand", origin=f"e{i}", category="empathetic"))
        else:
            msgs = [
                {"role": "user", "content": f"Write a Python function that returns {i} squared."},
                {"role": "assistant", "content": f"def square():\n    return {i} * {i}  # = {i * i}" + " ok" * (i % 7)},
            ]
            out.append(make_conversation(msgs, source="hand", origin=f"c{i}", category="technical"))
    return out


def write_phases(data_dir: Path, per_phase: int = 12, validation: int = 9) -> Path:
    """Phase files and, as `emergent data build` writes it, a held-out validation.parquet (0: none)."""
    for k, name in enumerate(PHASES):
        write_conversations(conversations(per_phase, offset=100 * k), data_dir / "phases" / f"{name}.parquet")
    if validation:
        write_conversations(conversations(validation, offset=900), data_dir / "validation.parquet")
    return data_dir


def config_dict(model_dir: Path, tmp: Path, phases: list[dict] | None = None, **training) -> dict:
    """Config values for the tiny model: small rows, tiny batches, every phase a few steps."""
    phases = phases or [
        {"name": name, "learning_rate": lr, "categories": cats}
        for (name, cats), lr in zip(PHASES.items(), [2e-3, 1.5e-3, 1e-3, 5e-4, 3e-4], strict=False)
    ]
    settings = {
        "batch_size": 1,
        "gradient_accumulation": 2,
        "max_seq_len": 192,
        "warmup_ratio": 0.3,
        "checkpoint_every_steps": 2,
        "precision": "fp32",
    }
    settings.update(training)
    data = {
        "seed": 0,
        "output_dir": str(tmp / "run"),
        "model": {"name": str(model_dir)},
        "peft": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0},
        "curriculum": {"phases": phases},
        "training": settings,
    }
    return data


def make_config(model_dir: Path, tmp: Path, phases: list[dict] | None = None, **training) -> object:
    """The parsed RunConfig of `config_dict`."""
    return parse_config(config_dict(model_dir, tmp, phases, **training), tmp / "config.yaml")


@pytest.fixture
def phase_dir(tmp_path: Path) -> Path:
    return write_phases(tmp_path / "data")


# The tiny model's tests run on one torch thread (tests/torch_threads.py).
one_torch_thread = pytest.fixture(autouse=True, scope="package")(single_torch_thread)


def kill_9_when(cmd: list[str], target: Path, env: dict, timeout: float = 300) -> None:
    """Start `cmd` and kill -9 it and every process under it as soon as `target` exists (a checkpoint
    mid-phase, a finished phase): the resume has to survive, workers included, like a lost node.

    The whole tree, not the process group: torchrun / accelerate launch start each worker in a
    session of its own, so a group kill would leave the workers training on as orphans."""
    import signal
    import subprocess
    import time

    import psutil

    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while not target.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "training finished before it could be killed mid-phase"
        launcher = psutil.Process(proc.pid)
        tree = [launcher, *launcher.children(recursive=True)]
        for p in tree:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        _gone, alive = psutil.wait_procs(tree, timeout=30)
        assert not alive, f"processes survived kill -9: {alive}"
    finally:
        proc.wait()
