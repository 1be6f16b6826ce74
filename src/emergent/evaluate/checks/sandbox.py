"""Run untrusted Python (a model's code reply plus unit tests) in a separate, limited process.

Layers, each because the one before can fail:
- a fresh `python -I` (no user site, no PYTHON* variables) with an empty environment and an empty
  temporary directory as its working directory and home;
- `resource` limits set in the child before it runs anything: address space (memory bombs), file size
  (huge writes), CPU seconds, open files and processes (fork bombs); as root the child also drops to
  the `nobody` user, because root ignores the process limit and may write anywhere;
- no network: a new, empty network namespace (unshare(2), entered before dropping to `nobody`) where
  the kernel allows it, and in any case a prelude that replaces `socket.socket` before the untrusted
  code runs;
- a wall-clock timeout that kills the whole process group (infinite loops, sleeping children).
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

NOBODY = 65534

# Runs in the child before the untrusted program; a program that goes around it (via _socket) still
# meets the empty network namespace where one is available.
_PRELUDE = """
import socket as _s
def _no_network(*a, **k):
    raise OSError("network access is disabled in the evaluation sandbox")
_s.socket = _no_network
_s.create_connection = _no_network
_s.socketpair = _no_network
del _s, _no_network
"""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    file_size_mb: int = 1
    processes: int = 16
    open_files: int = 64


@dataclass(frozen=True)
class Outcome:
    passed: bool  # exit status 0 within the limits
    returncode: int | None
    timed_out: bool
    stderr: str  # the last lines, to tell a failed assertion from a killed process


CLONE_NEWNET = 0x40000000


def _new_network_namespace() -> None:
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


@functools.lru_cache(maxsize=1)
def network_namespace_available() -> bool:
    """Whether this process may give a child an empty network namespace (root, or CAP_SYS_ADMIN)."""
    try:
        return (
            subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_new_network_namespace, timeout=10).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def layers() -> dict[str, bool]:
    """Which isolation layers this machine gives the sandbox (recorded in eval.json)."""
    return {
        "network_namespace": network_namespace_available(),
        "runs_as_nobody": interpreter()[1],
        "socket_blocked": True,
        "resource_limits": True,
    }


def _world_executable(path: str) -> bool:
    """Whether a user with no rights (nobody) can run `path`: every folder on the way and the file allow others."""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    for i in range(2, len(parts)):
        if not os.stat(os.sep.join(parts[:i]) or os.sep).st_mode & 0o001:
            return False
    return os.path.isfile(real) and bool(os.stat(real).st_mode & 0o001)


@functools.lru_cache(maxsize=1)
def interpreter() -> tuple[str, bool]:
    """(Python to run untrusted code with, whether it can run as nobody).

    The program needs only the standard library, so when this interpreter lives where nobody cannot
    reach it (a pyenv under /root), the system's python3 serves; as a last resort it runs as this user.
    """
    if os.geteuid() != 0:
        return sys.executable, False
    for candidate in (sys.executable, shutil.which("python3") or "", "/usr/bin/python3"):
        if candidate and _world_executable(candidate):
            return os.path.realpath(candidate), True
    return sys.executable, False


def _limit(limits: Limits, drop_to_nobody: bool, no_network: bool) -> None:
    """In the child, after fork and before exec: limits that hold for everything it starts."""
    mem = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsize = limits.file_size_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    cpu = int(limits.timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if no_network:  # needs the privileges dropped below
        _new_network_namespace()
    if drop_to_nobody:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def run_python(program: str, limits: Limits | None = None) -> Outcome:
    """Run `program` in the sandbox; passed when it exits 0 (every assertion held) within the limits."""
    limits = limits or Limits()
    python, as_nobody = interpreter()
    with tempfile.TemporaryDirectory(prefix="emergent-sandbox-") as work:
        path = os.path.join(work, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_PRELUDE + "\n" + program)
        if as_nobody:  # the child runs as nobody: it may read its program and write only here
            os.chown(work, NOBODY, NOBODY)
            os.chown(path, NOBODY, NOBODY)
        cmd = [python, "-I", "-S", "program.py"]
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8"}
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: the timeout kills children too
                preexec_fn=functools.partial(_limit, limits, as_nobody, network_namespace_available()),
            )
        except OSError as err:
            return Outcome(False, None, False, f"could not start the sandbox: {err}")
        try:
            _, err = proc.communicate(timeout=limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            timed_out = True
    tail = "\n".join(err.decode("utf-8", "replace").strip().splitlines()[-5:])
    return Outcome(proc.returncode == 0 and not timed_out, proc.returncode, timed_out, tail)
